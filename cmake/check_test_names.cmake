# Fails when a doctest case name holds a character that breaks CTest registration or doctest's
# --test-case filter (',' splits filters, so such a case would silently run nothing).
execute_process(COMMAND ${GS_TESTS} --list-test-cases OUTPUT_VARIABLE names RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not list test cases (exit ${rc})")
endif()
string(REGEX MATCHALL "[^\n]*[],;[\\][^\n]*" bad "${names}")
list(FILTER bad EXCLUDE REGEX "^\\[doctest\\]")
if(bad)
  message(FATAL_ERROR "test case names with ',', ';', '[', ']' or '\\': ${bad}")
endif()

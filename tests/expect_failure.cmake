# Runs CMD with ARGS and passes only when it exits with EXPECT_RC and its output (stdout and stderr
# together) contains EXPECT. CTest's PASS_REGULAR_EXPRESSION alone would ignore the exit code.
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(NOT rc STREQUAL "${EXPECT_RC}")
  message(FATAL_ERROR "expected exit code ${EXPECT_RC}, got ${rc}; output:\n${all}")
endif()
string(FIND "${all}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "output lacks \"${EXPECT}\":\n${all}")
endif()
message(STATUS "ok: exit ${rc}, output:\n${all}")

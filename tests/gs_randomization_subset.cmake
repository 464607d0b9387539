# gs-randomization with only some settings: here no true-label run, so Figure 1b has no p = 0 to
# divide by. It must still finish, with a summary of just the runs asked for and a report.
# -DCMD=<gs-randomization> -DRUN=<scratch folder>
file(REMOVE_RECURSE ${RUN})
execute_process(COMMAND ${CMD} --models mlp_1x512 --settings partial_labels --figure-p 0.2 --corruption 0.4
                        --train-examples 64 --test-examples 64 --epochs 1 --run-dir ${RUN} --progress off --no-plot
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gs-randomization --settings partial_labels --corruption 0.4 exited with ${rc}:\n${out}${err}")
endif()
file(READ ${RUN}/summary.json summary)
string(JSON runs GET "${summary}" models mlp_1x512 runs)
string(JSON n LENGTH "${runs}")
string(JSON first MEMBER "${runs}" 0)
string(JSON second MEMBER "${runs}" 1)
if(NOT n EQUAL 2 OR NOT first STREQUAL "partial_labels_p0.2" OR NOT second STREQUAL "partial_labels_p0.4")
  message(FATAL_ERROR "expected the runs partial_labels_p0.2 and partial_labels_p0.4, got ${n}:\n${runs}")
endif()
# The curve still has p = 0.4's test error.
string(JSON error_type TYPE "${summary}" models mlp_1x512 corruption_curve 0 test_error)
if(NOT error_type STREQUAL "NUMBER")
  message(FATAL_ERROR "the corruption curve lost p = 0.4's test error:\n${summary}")
endif()
if(NOT EXISTS ${RUN}/report.md)
  message(FATAL_ERROR "no report.md in ${RUN}")
endif()
message(STATUS "ok:\n${out}")

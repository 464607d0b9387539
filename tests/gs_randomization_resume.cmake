# An interrupted gs-randomization run names the folder to resume: its own run folder, not the
# model/setting sub-run that was training (whose folder --resume refuses). Following the hint as
# printed finishes the run.
# -DCMD=<gs-randomization> -DRUN=<scratch folder>
file(REMOVE_RECURSE ${RUN})
execute_process(COMMAND ${CMD} --models mlp_1x512 --settings true_labels --corruption 0 --train-examples 256
                        --test-examples 64 --epochs 3 --interrupt-after-steps 3 --run-dir ${RUN} --progress plain --no-plot
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 130)
  message(FATAL_ERROR "interrupted run: expected exit code 130, got ${rc}:\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "continue with --resume ([^\n]*)")
  message(FATAL_ERROR "the interrupted run does not say how to continue:\n${out}${err}")
endif()
set(hint "${CMAKE_MATCH_1}")
if(NOT hint STREQUAL RUN)
  message(FATAL_ERROR "the interrupted run says --resume ${hint}, not its run folder ${RUN}")
endif()
execute_process(COMMAND ${CMD} --resume ${hint} --progress off --no-plot
                RESULT_VARIABLE rc OUTPUT_VARIABLE out2 ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${RUN}/report.md)
  message(FATAL_ERROR "--resume ${hint}: exit code ${rc}, report.md there: ${out2}${err}")
endif()
message(STATUS "ok:\n${out}${out2}")

# gs-stiffness --lrs: one run per learning rate in lr-<rate>/ and the comparison (summary.json with
# per-rate values and directions, report.md) in the run folder.
file(REMOVE_RECURSE ${RUN})
execute_process(COMMAND ${CMD} --lrs 0.1,0.01 --train-examples 300 --test-examples 100 --widths 16 --steps 4 --batch-size 32
                        --per-class 2 --bins 4 --no-plot --progress off --run-dir ${RUN}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gs-stiffness --lrs exited with ${rc}:\n${out}${err}")
endif()
file(READ ${RUN}/summary.json summary)
string(JSON status GET "${summary}" status)
string(JSON n LENGTH "${summary}" runs)
string(JSON lr0 GET "${summary}" runs 0 lr)
string(JSON between TYPE "${summary}" runs 1 final cosine train_between_class)
string(JSON dir GET "${summary}" direction cosine_train_between_class)
if(NOT status STREQUAL "complete" OR NOT n EQUAL 2 OR NOT lr0 EQUAL 0.01 OR NOT between STREQUAL "NUMBER"
   OR NOT dir MATCHES "^(increases|decreases|is not monotonic|is undetermined)$")
  message(FATAL_ERROR "bad sweep summary.json:\n${summary}")
endif()
foreach(f report.md lr-0.01/summary.json lr-0.1/stiffness.json lr-0.1/report.md)
  if(NOT EXISTS ${RUN}/${f})
    message(FATAL_ERROR "no ${f}")
  endif()
endforeach()
message(STATUS "ok:\n${out}")

# gs-regularization on a small Fashion-MNIST subset: every Table 1 row of the MLP is trained
# (random crop and weight decay on and off, random labels with and without weight decay), the
# summary holds their accuracies, and the report puts the paper's values beside them. Then --rows
# picks two rows, and only those are trained.
file(REMOVE_RECURSE ${RUN})
execute_process(COMMAND ${CMD} --models mlp_1x512 --train-examples 300 --test-examples 300 --epochs 2 --batch-size 64
                        --run-dir ${RUN} --progress off --no-plot
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gs-regularization exited with ${rc}:\n${out}${err}")
endif()
file(READ ${RUN}/summary.json summary)
foreach(row crop_wd crop wd none random_labels random_labels_wd)
  string(JSON acc GET "${summary}" models mlp_1x512 rows ${row} test_accuracy)
  string(JSON steps GET "${summary}" models mlp_1x512 rows ${row} steps)
  if(NOT steps EQUAL 10 OR acc LESS 0 OR acc GREATER 1)
    message(FATAL_ERROR "row ${row}: steps ${steps} (expected 2 epochs of 5), test accuracy ${acc}")
  endif()
endforeach()
file(READ ${RUN}/report.md report)
foreach(expect "| mlp_1x512 | 407050 | yes | yes | true |" "| 100.00 | 50.51 |" "| no | yes | random |")
  string(FIND "${report}" "${expect}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "report.md lacks \"${expect}\":\n${report}")
  endif()
endforeach()

file(REMOVE_RECURSE ${RUN}_rows)
execute_process(COMMAND ${CMD} --models mlp_1x512 --train-examples 300 --test-examples 300 --epochs 1 --batch-size 64
                        --rows none,random_labels --run-dir ${RUN}_rows --progress off --no-plot
                RESULT_VARIABLE rc OUTPUT_VARIABLE out2 ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gs-regularization --rows exited with ${rc}:\n${out2}${err}")
endif()
file(READ ${RUN}_rows/summary.json summary)
string(JSON n LENGTH "${summary}" models mlp_1x512 rows)
string(JSON first MEMBER "${summary}" models mlp_1x512 rows 0)
string(JSON second MEMBER "${summary}" models mlp_1x512 rows 1)
if(NOT n EQUAL 2 OR NOT first STREQUAL "none" OR NOT second STREQUAL "random_labels")
  message(FATAL_ERROR "--rows none,random_labels trained ${n} rows (${first}, ${second}, ...):\n${summary}")
endif()
file(GLOB folders RELATIVE ${RUN}_rows/mlp_1x512 ${RUN}_rows/mlp_1x512/*)
list(SORT folders)
if(NOT folders STREQUAL "none;random_labels")
  message(FATAL_ERROR "--rows none,random_labels left row folders ${folders}")
endif()

# Figure 2b's two Inceptions train at their own rates (--lr-inception, --lr-inception-nobn).
include(${CMAKE_CURRENT_LIST_DIR}/inception_rates.cmake)
check_inception_rates(${CMD} ${RUN}_inception none --models inception_small --rows none)
message(STATUS "ok:\n${out}\n${out2}")

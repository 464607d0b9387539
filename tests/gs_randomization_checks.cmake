# gs-randomization on 200 Fashion-MNIST images: the claims of Zhang et al. section 2 hold on this
# small scale - every setting is fitted, random-label test accuracy is at chance, test error grows
# with the corruption level and random labels take longer to fit than true labels - and the
# report is written.
file(REMOVE_RECURSE ${RUN})
execute_process(COMMAND ${CMD} --train-examples 200 --test-examples 500 --models mlp_1x512 --corruption 0,0.5,1
                        --epochs 100 --batch-size 32 --lr 0.05 --run-dir ${RUN} --progress off --no-plot
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gs-randomization exited with ${rc}:\n${out}${err}")
endif()
file(READ ${RUN}/summary.json summary)
foreach(check every_setting_fits random_labels_test_at_chance test_error_grows_with_p random_labels_fit_slower)
  string(JSON value GET "${summary}" models mlp_1x512 checks ${check})
  if(NOT value)
    message(FATAL_ERROR "check ${check} failed:\n${summary}")
  endif()
endforeach()
if(NOT EXISTS ${RUN}/report.md)
  message(FATAL_ERROR "no report.md")
endif()
message(STATUS "ok:\n${out}")

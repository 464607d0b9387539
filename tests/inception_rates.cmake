# check_inception_rates(CMD RUN ROW ARGS...): runs the Zhang binary CMD with both Inceptions at
# their own rates (--lr-inception 0.05 --lr-inception-nobn 0.002) on 32 images for one epoch, plus
# ARGS; then each model's sub-run ROW must record the rate it trained at, and report.md must name
# both. Shared by gs-randomization's and gs-regularization's tests.
function(check_inception_rates CMD RUN ROW)
  file(REMOVE_RECURSE ${RUN})
  execute_process(COMMAND ${CMD} ${ARGN} --train-examples 32 --test-examples 32 --epochs 1 --batch-size 32
                          --lr-inception 0.05 --lr-inception-nobn 0.002 --run-dir ${RUN} --progress off --no-plot
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CMD} ${ARGN} exited with ${rc}:\n${out}${err}")
  endif()
  foreach(pair "inception_small=0.05" "inception_small_nobn=0.002")
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 model)
    list(GET pair 1 want)
    file(READ ${RUN}/${model}/${ROW}/summary.json run)
    string(JSON lr GET "${run}" config lr)
    if(NOT lr EQUAL want)
      message(FATAL_ERROR "${model} trained at lr ${lr}, expected ${want}")
    endif()
  endforeach()
  file(READ ${RUN}/report.md report)
  string(FIND "${report}" "lr 0.05 for inception_small, 0.002 for inception_small_nobn" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "report.md does not name both Inception rates:\n${report}")
  endif()
endfunction()

# gs-randomization trains each Inception at its own rate (--lr-inception, --lr-inception-nobn).
# -DCMD=<gs-randomization> -DRUN=<scratch folder>
include(${CMAKE_CURRENT_LIST_DIR}/inception_rates.cmake)
check_inception_rates(${CMD} ${RUN} true_labels --models inception_small,inception_small_nobn --settings true_labels
                      --corruption 0)
message(STATUS "ok")

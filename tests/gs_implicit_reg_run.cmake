# gs-implicit-reg end to end on tiny data: SGD from zero reaches the min-norm interpolant on
# well-conditioned Gaussian data, never leaves the row span on images, and exact kernel
# interpolation has zero training error.
file(REMOVE_RECURSE ${RUN})
execute_process(COMMAND ${CMD} ${ARGS} --run-dir ${RUN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "expected exit code 0, got ${rc}:\n${out}${err}")
endif()
file(READ ${RUN}/summary.json s)
string(JSON status GET "${s}" status)
if(NOT status STREQUAL "complete")
  message(FATAL_ERROR "summary status ${status}")
endif()
# Gaussian n = 100, d = 400: lambda_min(X X^T) / max ||x||^2 is about 0.2, so 200 epochs shrink the
# error by far more than 1e-6 (measured: rounding level).
string(JSON rel GET "${s}" linear 0 relative_distance)
if(rel GREATER 1e-6)
  message(FATAL_ERROR "Gaussian data: ||w_sgd - w*|| / ||w*|| = ${rel}, expected <= 1e-6")
endif()
foreach(i 0 1)
  # The off-span part is rounding: ||w|| ~ 10-40 times eps times the O(n d epochs) steps, far below 1e-8.
  string(JSON off GET "${s}" linear ${i} off_span_norm)
  if(off GREATER 1e-8)
    message(FATAL_ERROR "linear part ${i}: SGD left the row span by ${off}")
  endif()
endforeach()
string(JSON lambda GET "${s}" kernel 0 lambda)
string(JSON train GET "${s}" kernel 0 train_error)
string(JSON test GET "${s}" kernel 0 test_error)
if(NOT lambda EQUAL 0 OR NOT train EQUAL 0)
  message(FATAL_ERROR "kernel lambda ${lambda}: train error ${train}, expected exact interpolation (0)")
endif()
# 300 Fashion-MNIST images: measured ~19% test error; chance is 90%.
if(test GREATER 0.4)
  message(FATAL_ERROR "kernel lambda 0: test error ${test}, expected < 0.4")
endif()
message(STATUS "ok: relative distance ${rel}, kernel test error ${test}")

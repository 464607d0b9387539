# Layering is enforced by the include path. Each library target sees a directory of symlinks that
# holds only its own folder and the folders below it, so "#include "autograd/..."" from kernels/
# fails to compile instead of quietly creating an upward dependency.
#
#   gs_layer(<name> BELOW <lower layers...>)
#
# creates ${CMAKE_BINARY_DIR}/layers/<name>/{<name>,<lower>...} -> source folders, and the function
# gs_layer_includes(<target> <name>) puts that directory on <target>'s private include path.
function(gs_layer name)
  cmake_parse_arguments(ARG "" "" "BELOW" ${ARGN})
  set(dir ${CMAKE_BINARY_DIR}/layers/${name})
  file(MAKE_DIRECTORY ${dir})
  foreach(layer ${name} ${ARG_BELOW})
    if(NOT EXISTS ${dir}/${layer})
      file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${layer} ${dir}/${layer} SYMBOLIC)
    endif()
  endforeach()
endfunction()

function(gs_layer_includes target name)
  target_include_directories(${target} PRIVATE ${CMAKE_BINARY_DIR}/layers/${name})
endfunction()

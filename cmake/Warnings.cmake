# Warnings for every first-party target.
function(jvb_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast
                                           -Wcast-align -Woverloaded-virtual
                                           -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  if(JVB_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false maybe-uninitialized positives inside libstdc++
    # (<regex>, <optional>) when ASan instruments them.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(JVB_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

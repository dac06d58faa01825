# Warnings for every first-party target.
function(jvb_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast
                                           -Wcast-align -Woverloaded-virtual
                                           -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  if(JVB_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

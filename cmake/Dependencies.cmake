# Every dependency comes from Debian 12's packages (scripts/install-deps.sh),
# except libsrtp2, which is built from Debian's source package against OpenSSL
# unless JVB_SYSTEM_SRTP is ON.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
# /metrics: the registry and the Prometheus text serializer (prometheus-cpp-dev)
find_package(prometheus-cpp CONFIG REQUIRED)

pkg_check_modules(NICE REQUIRED IMPORTED_TARGET nice)
pkg_check_modules(USRSCTP REQUIRED IMPORTED_TARGET usrsctp)
pkg_check_modules(STROPHE REQUIRED IMPORTED_TARGET libstrophe)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)

if(JVB_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(JVB_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Boost.Asio/Beast are header-only; this target carries their definitions.
add_library(jvb_asio INTERFACE)
target_link_libraries(jvb_asio INTERFACE Boost::boost Boost::system Threads::Threads)
target_compile_definitions(jvb_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

# libsrtp2 -------------------------------------------------------------------
add_library(jvb_srtp2 INTERFACE)
if(JVB_SYSTEM_SRTP)
  pkg_check_modules(SRTP2 REQUIRED IMPORTED_TARGET libsrtp2)
  target_link_libraries(jvb_srtp2 INTERFACE PkgConfig::SRTP2)
  message(STATUS "libsrtp2: Debian's binary (NSS backend)")
else()
  set(JVB_SRTP_PREFIX ${CMAKE_BINARY_DIR}/_deps/libsrtp2)
  if(NOT EXISTS ${JVB_SRTP_PREFIX}/lib/libsrtp2.a)
    message(STATUS "libsrtp2: building Debian's source package with OpenSSL into ${JVB_SRTP_PREFIX}")
    execute_process(COMMAND ${CMAKE_CURRENT_LIST_DIR}/../scripts/build-libsrtp2.sh ${JVB_SRTP_PREFIX}
                    RESULT_VARIABLE srtp_rc)
    if(NOT srtp_rc EQUAL 0)
      message(FATAL_ERROR "building libsrtp2 failed (run scripts/install-deps.sh, or -DJVB_SYSTEM_SRTP=ON)")
    endif()
  endif()
  target_include_directories(jvb_srtp2 SYSTEM INTERFACE ${JVB_SRTP_PREFIX}/include)
  target_link_libraries(jvb_srtp2 INTERFACE ${JVB_SRTP_PREFIX}/lib/libsrtp2.a OpenSSL::Crypto)
  message(STATUS "libsrtp2: Debian source built with OpenSSL (${JVB_SRTP_PREFIX})")
endif()

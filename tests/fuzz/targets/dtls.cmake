# Arbitrary datagrams (2-byte length-framed; a bare ClientHello is one
# datagram) into a fresh server-role dtls::Session per input: dtls_fuzz.cpp.
jvb_fuzz_target(dtls_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/dtls_fuzz.cpp LIBS jvb_dtls)
jvb_warnings(dtls_fuzz)

# Arbitrary bytes unprotected (RTP and RTCP) by srtp::Session with a fixed key
# for both profiles, and protect -> flip one byte -> unprotect round trips.
jvb_fuzz_target(srtp_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/srtp_fuzz.cpp LIBS jvb_srtp)
jvb_warnings(srtp_fuzz)

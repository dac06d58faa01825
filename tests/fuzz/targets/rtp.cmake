jvb_fuzz_target(rtp_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/rtp_fuzz.cpp LIBS jvb_rtp)

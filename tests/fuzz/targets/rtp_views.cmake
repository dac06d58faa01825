# Arbitrary bytes through the RTP packet view (parse, parseHeader, every
# accessor, extension lookup for all IDs, audio level, in-place setters and ID
# rewrites) and through the RTCP compound walk with every typed view and the
# RR/SR/SDES builders.
jvb_fuzz_target(rtp_view_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/rtp_view_fuzz.cpp LIBS jvb_rtp)
jvb_warnings(rtp_view_fuzz)
jvb_fuzz_target(rtcp_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/rtcp_fuzz.cpp LIBS jvb_rtp)
jvb_warnings(rtcp_fuzz)
# RFC 2198 RED: the parser on arbitrary payloads, the in-place strip on
# arbitrary packets, also after the SSRC-rewritten copy.
jvb_fuzz_target(red_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/red_fuzz.cpp LIBS jvb_rtp)
jvb_warnings(red_fuzz)

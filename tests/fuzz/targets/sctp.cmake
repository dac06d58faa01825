# Arbitrary bytes as a DCEP message (codec round trip), as a raw SCTP packet,
# as chunks behind a valid common header, and as a user message sent through
# a real client association into an established server sctp::Association:
# sctp_fuzz.cpp. Seeds: corpus/sctp_fuzz (first byte = mode).
jvb_fuzz_target(sctp_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/sctp_fuzz.cpp LIBS jvb_sctp)
jvb_warnings(sctp_fuzz)

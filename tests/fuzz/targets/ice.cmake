# Arbitrary bytes as STUN through ice/'s shared-port helpers and an IceAgent's
# incoming path, then as a script driving an IceAgent against an authentic
# peer: stun_fuzz.cpp. Seeds: a Binding request and response for the
# target's credentials, built with ice::stun (corpus/stun_fuzz).
jvb_fuzz_target(stun_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stun_fuzz.cpp LIBS jvb_ice)
jvb_warnings(stun_fuzz)

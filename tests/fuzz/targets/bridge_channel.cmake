# Arbitrary bytes as bridge-channel messages (several, separated by
# "\n---\n") through the codec and a BridgeChannelHub with fake transports:
# jvb::control::channel::parse, BridgeChannelHub::onMessage. Built from the
# one source file, without the rest of jvb_control.
jvb_fuzz_target(bridge_channel_fuzz
                SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/bridge_channel_fuzz.cpp
                        ${PROJECT_SOURCE_DIR}/control/bridge_channel.cpp
                LIBS jvb_common nlohmann_json::nlohmann_json)
jvb_warnings(bridge_channel_fuzz)

# Arbitrary bytes as IQs (several, separated by "\n---\n") through
# libstrophe's parser, the IQ dispatcher and the Colibri2 conference-modify
# handler on a fresh ConferenceRegistry: xmpp::registerColibri2.
jvb_fuzz_target(colibri2_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/colibri2_fuzz.cpp LIBS jvb_xmpp)
jvb_warnings(colibri2_fuzz)

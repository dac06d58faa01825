#pragma once
// Helpers the XMPP unit tests share: walking libstrophe stanzas and building
// canned Colibri2 IQs.
#include <string>
#include <vector>

#include "xmpp/strophe.hpp"

namespace jvb::xmpp::testing {

inline std::vector<xmpp_stanza_t*> tags(xmpp_stanza_t* s) {
  std::vector<xmpp_stanza_t*> out;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(s); c != nullptr; c = xmpp_stanza_get_next(c)) {
    if (xmpp_stanza_is_tag(c)) {
      out.push_back(c);
    }
  }
  return out;
}

inline std::string name(xmpp_stanza_t* s) {
  const char* n = xmpp_stanza_get_name(s);
  return n != nullptr ? n : "";
}

inline std::string ns(xmpp_stanza_t* s) {
  const char* n = xmpp_stanza_get_ns(s);
  return n != nullptr ? n : "";
}

inline std::string iqXml(const std::string& type, const std::string& id, const std::string& from,
                         const std::string& to, const std::string& body) {
  return "<iq type='" + type + "' id='" + id + "' from='" + from + "' to='" + to + "'>" + body +
         "</iq>";
}

inline std::string modifyXml(const std::string& meetingId, const std::string& attrs,
                             const std::string& children) {
  return "<conference-modify xmlns='jitsi:colibri2' meeting-id='" + meetingId + "'" + attrs + ">" +
         children + "</conference-modify>";
}

}  // namespace jvb::xmpp::testing

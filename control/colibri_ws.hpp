#pragma once
// colibri-ws: who may open the bridge channel as a WebSocket, as JVB's
// ColibriWebSocketService decides it (jvb-interfaces.md section 4.1).
//
//   /colibri-ws/<server-id>/<conference-id>/<endpoint-id>?pwd=<password>
//
// <server-id> is videobridge.websockets.server-id (a different one: 404
// "server ID mismatch"; any other path: 404); <conference-id> is the
// conference's internal id (not the meeting-id) and the endpoint must exist
// in it with that password (else 403). Pure logic on the control thread.
#include <optional>
#include <string>
#include <string_view>

#include "control/conference.hpp"

namespace jvb::control {

struct ColibriWsTarget {
  std::string serverId;
  std::string conferenceId;
  std::string endpointId;
  std::string password;  // empty when the query has no pwd
};

// Splits a request-target; nullopt when it is not a colibri-ws path.
std::optional<ColibriWsTarget> parseColibriWsTarget(std::string_view target);

struct ColibriWsVerdict {
  unsigned status = 404;  // 101 (accept), 403 or 404
  std::string reason;     // for the refusal's body and the log
  std::string meetingId;  // when accepted
  std::string endpointId;
};

ColibriWsVerdict authorizeColibriWs(std::string_view target, std::string_view serverId,
                                    const ConferenceRegistry& conferences);

}  // namespace jvb::control

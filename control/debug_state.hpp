#pragma once
// JVB's debug state (GET /debug, /debug/<conference-id>,
// /debug/<conference-id>/<endpoint-id>; Videobridge.getDebugState,
// Conference.getDebugState, rest/root/debug/Debug.java), from what the
// control thread holds: the Colibri2 registry and the media thread's last
// routing report (StatsCollector). Nothing here asks the media thread.
//
// Shape: {"shutdown_state", "drain", "time", "load_management",
// "conferences": {<internal id>: {"id", "rtcstatsEnabled", "name"?,
// "meeting_id", "endpoints": {...}, "relays": {}}}} (+ "health" for the
// bridge's view). Short mode lists each endpoint as id -> stats id; full
// mode gives each endpoint's state and the conference's speech activity.
// Unlike JVB, which answers an unknown conference with
// {"conferences": {"<id>": "null"}}, an unknown conference or endpoint is
// nullopt (the route answers 404).
//
// Threading: control thread.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "control/bridge_state.hpp"
#include "control/conference.hpp"
#include "control/stats.hpp"

namespace jvb::control {

struct DebugSources {
  const ConferenceRegistry* conferences = nullptr;
  const StatsCollector* stats = nullptr;
  const BridgeState* state = nullptr;
  int ssrcLimitAudio = 0;
};

// Empty `conferenceId`: every conference (the bridge's view, with
// `health`); empty `endpointId`: every endpoint of that conference.
std::optional<nlohmann::json> debugState(const DebugSources& sources,
                                         const std::string& conferenceId,
                                         const std::string& endpointId, bool full,
                                         const Health& health);

}  // namespace jvb::control

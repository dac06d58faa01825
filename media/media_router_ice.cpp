// The media router's ICE: STUN from endpoints (and from the STUN servers the
// bridge asks for its public address), ICE state changes, NAT rebinding, and
// ICE restarts with two agents side by side (make-before-break).
#include <algorithm>
#include <memory>

#include "common/log.hpp"
#include "ice/stun.hpp"
#include "media/media_counters.hpp"
#include "media/media_router.hpp"
#include "media/media_router_state.hpp"
#include "rtp/demux.hpp"

namespace jvb::media {

using media_detail::bump;

void MediaRouter::onStun(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                         Clock::time_point now) {
  Media* ep = nullptr;
  if (auto it = byTuple_.find(from); it != byTuple_.end()) {
    ep = it->second;
  } else if (auto ufrag = ice::stun::peekLocalUfrag(datagram)) {
    if (auto u = byUfrag_.find(*ufrag); u != byUfrag_.end()) {
      ep = u->second;
    }
  } else {
    // A response to one of our Binding requests to a STUN server (its
    // address is not a peer's), or to one of our checks from an address not
    // bound yet.
    if (stunMapper_ && onStunServerDatagram(datagram, from, now)) {
      return;
    }
    for (auto& [handle, m] : endpoints_) {
      if (m->ice->knowsRemote(from) || (m->pendingIce && m->pendingIce->knowsRemote(from))) {
        ep = m.get();
        break;
      }
    }
  }
  if (ep == nullptr) {
    // For no endpoint of ours: no state, counted with the strangers.
    bump(counters_.droppedUnknownSource[static_cast<size_t>(rtp::PacketKind::kStun)]);
    return;
  }
  // During an ICE restart the endpoint has two agents (three in the
  // transition window): the USERNAME or the transaction tells which, not the
  // address, which may well stay the same. (ice4j goes by the address first,
  // so JVB's new Agent is reached only from a new address.)
  ice::IceAgent& agent = ep->stunAgent(datagram);
  const auto result = agent.handleStun(datagram, from, now);
  if (result == ice::IceAgent::Result::kRejected) {
    bump(counters_.stunRejected);
    return;
  }
  ep->lastIncoming = now;
  if (agent.isValidRemote(from)) {
    bindTuple(*ep, from);  // media from there is the endpoint's, whichever agent checked it
  }
  if (&agent == ep->pendingIce.get()) {
    settleIceRestart(*ep, now);
  }
}

void MediaRouter::dropUfrag(const Media& ep, const ice::IceAgent* agent) {
  if (agent == nullptr) {
    return;
  }
  const auto it = byUfrag_.find(agent->localCredentials().ufrag);
  if (it != byUfrag_.end() && it->second == &ep) {
    byUfrag_.erase(it);
  }
}

void MediaRouter::reportIce(const Media& ep, IceEvent event) {
  if (events_.iceChanged) {
    events_.iceChanged(ep.spec.meetingId, ep.spec.id, std::move(event));
  }
}

void MediaRouter::updateIceRestart(Media& ep, const IceRestartSpec& restart,
                                   Clock::time_point now) {
  if (restart.generation > ep.lastRestartGeneration) {
    ep.lastRestartGeneration = restart.generation;
    if (ep.pendingIce) {
      // A newer round supersedes one that has not connected (the control
      // thread counted it).
      LOG_INFO("media", "{}: ICE restart generation {} superseded by {}", ep.tag,
               ep.pendingSpec.generation, restart.generation);
      dropUfrag(ep, ep.pendingIce.get());
      ep.pendingIce.reset();
    }
    // RFC 8445 section 9: the role and the tie-breaker stay; the new agent
    // answers checks for its ufrag at once (learning the endpoint's new
    // address peer-reflexively) and checks itself once the endpoint's new
    // credentials are known (we are controlling: our checks need them).
    ice::IceConfig config = iceConfig_;
    config.tieBreaker = ep.ice->tieBreaker();
    Media* raw = &ep;
    ep.pendingIce = std::make_unique<ice::IceAgent>(
        restart.local,
        [this](std::span<const uint8_t> d, const UdpEndpoint& to) {
          if (port_.sendTo(d, to)) {
            bump(counters_.packetsSent);
            counters_.bytesSent.fetch_add(d.size(), std::memory_order_relaxed);
          }
        },
        config, ep.ice->role());
    // Acted on once the agent returned (settleIceRestart): it may be freed.
    ep.pendingIce->onStateChange([raw](ice::IceState s, ice::IceFailure) {
      if (s == ice::IceState::kConnected) {
        raw->pendingEvent = Media::PendingEvent::kConnected;
      } else if (s == ice::IceState::kFailed) {
        raw->pendingEvent = Media::PendingEvent::kFailed;
      }
    });
    ep.pendingSpec = IceRestartSpec{restart.generation, restart.local, {}, {}, {}};
    ep.pendingRemoteSet = false;
    ep.pendingEvent = Media::PendingEvent::kNone;
    ep.pendingDeadline = now + restartConfig_.timeout;
    byUfrag_[restart.local.ufrag] = &ep;
    LOG_INFO("media", "{}: ICE restart generation {}: new agent with ufrag {} beside {}", ep.tag,
             restart.generation, restart.local.ufrag, ep.ice->localCredentials().ufrag);
  }
  if (!ep.pendingIce || ep.pendingRemoteSet || restart.generation != ep.pendingSpec.generation ||
      restart.remoteUfrag.empty() || restart.remotePwd.empty()) {
    return;
  }
  ep.pendingIce->setRemoteCredentials(restart.remoteUfrag, restart.remotePwd);
  ep.pendingRemoteSet = true;
  ep.pendingSpec.remoteUfrag = restart.remoteUfrag;
  ep.pendingSpec.remotePwd = restart.remotePwd;
  for (const auto& c : restart.remoteCandidates) {
    ep.pendingIce->addRemoteCandidate(c);
  }
  LOG_INFO("media",
           "{}: ICE restart generation {}: the endpoint's ufrag {}, {} candidate(s): "
           "checking",
           ep.tag, restart.generation, restart.remoteUfrag, restart.remoteCandidates.size());
}

void MediaRouter::settleIceRestart(Media& ep, Clock::time_point now) {
  const auto event = ep.pendingEvent;
  ep.pendingEvent = Media::PendingEvent::kNone;
  if (!ep.pendingIce) {
    return;
  }
  if (event == Media::PendingEvent::kConnected) {
    cutOverIce(ep, now);
  } else if (event == Media::PendingEvent::kFailed) {
    abandonIceRestart(ep, "every candidate pair failed");
  } else if (now >= ep.pendingDeadline) {
    abandonIceRestart(ep, "not connected before videobridge.ice.restart.timeout");
  }
}

void MediaRouter::cutOverIce(Media& ep, Clock::time_point now) {
  // Make-before-break: the new pair is selected, so media and DTLS go
  // there from now on (destination()); the DTLS association, the SRTP
  // sessions, the SCTP association and the bridge channel are the
  // endpoint's, not the agent's, and stay as they are.
  std::unique_ptr<ice::IceAgent> old = std::move(ep.ice);
  old->onStateChange({});
  ep.ice = std::move(ep.pendingIce);
  Media* raw = &ep;
  ep.ice->onStateChange(
      [this, raw](ice::IceState, ice::IceFailure) { onIceState(*raw, Clock::now()); });
  ep.ice->onSelectedMoved(
      [this, raw](const UdpEndpoint& from, const UdpEndpoint& to) { onIceMoved(*raw, from, to); });
  old->onSelectedMoved({});
  dropUfrag(ep, ep.retiringIce.get());
  ep.retiringIce.reset();
  const auto remote = ep.ice->selectedRemote();
  LOG_INFO(
      "media", "{}: ICE restart generation {} connected to {}:{}: cut over from ufrag {} to {}",
      ep.tag, ep.pendingSpec.generation, remote ? remote->address().to_string() : "?",
      remote ? remote->port() : 0, old->localCredentials().ufrag, ep.ice->localCredentials().ufrag);
  if (restartConfig_.transitionWindow.count() > 0) {
    // The endpoint's checks of the old generation still in flight are
    // answered (the old agent is not ticked: no checks or consent of its own).
    ep.retiringIce = std::move(old);
    ep.retireAt = now + restartConfig_.transitionWindow;
  } else {
    dropUfrag(ep, old.get());
  }
  if (remote) {
    bindTuple(ep, *remote);
  }
  ep.lastIceState = ice::IceState::kConnected;
  ensureDtls(ep, now);  // no-op unless DTLS had not started yet
  reportIce(ep, IceEvent{IceEvent::Kind::kRestartSucceeded, ep.pendingSpec.generation,
                         ep.ice->localCredentials(), ep.pendingSpec.remoteUfrag,
                         ep.pendingSpec.remotePwd});
}

void MediaRouter::abandonIceRestart(Media& ep, const char* why) {
  LOG_WARN("media", "{}: ICE restart generation {} abandoned ({}): keeping ufrag {}", ep.tag,
           ep.pendingSpec.generation, why, ep.ice->localCredentials().ufrag);
  dropUfrag(ep, ep.pendingIce.get());
  ep.pendingIce.reset();
  reportIce(ep, IceEvent{IceEvent::Kind::kRestartFailed, ep.pendingSpec.generation, {}, {}, {}});
}

void MediaRouter::setStunServers(cmd::SetStunServers command) {
  stunTimer_.cancel();
  stunMapper_.reset();
  if (command.servers.empty()) {
    return;
  }
  stunMapper_ = std::make_unique<ice::StunMapper>(std::move(command.servers), command.timing);
  pollStun();
}

void MediaRouter::pollStun() {
  if (!stunMapper_) {
    return;
  }
  const auto next = stunMapper_->poll(
      Clock::now(),
      [this](std::span<const uint8_t> d, const UdpEndpoint& to) {
        if (port_.sendTo(d, to)) {
          bump(counters_.packetsSent);
          counters_.bytesSent.fetch_add(d.size(), std::memory_order_relaxed);
          bump(counters_.stunMappingRequests);
        }
      },
      [this](const ice::StunMapper::Outcome& o) {
        bump(counters_.stunMappingTimeouts);
        if (events_.stunMapping) {
          events_.stunMapping(StunMappingResult{stunMapper_->servers()[o.server], std::nullopt, 0});
        }
      });
  stunTimer_.expires_at(next);
  stunTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      pollStun();
    }
  });
}

bool MediaRouter::onStunServerDatagram(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                                       Clock::time_point now) {
  if (!stunMapper_->isServer(from)) {
    return false;
  }
  bool rejected = false;
  const auto outcome = stunMapper_->onDatagram(datagram, from, now, &rejected);
  if (!outcome) {
    bump(counters_.stunMappingRejected);
    return true;
  }
  bump(counters_.stunMappingResponses);
  if (events_.stunMapping) {
    // The server as configured (`from` may be its IPv4-mapped form).
    events_.stunMapping(StunMappingResult{stunMapper_->servers()[outcome->server], outcome->mapped,
                                          outcome->errorCode});
  }
  return true;
}

void MediaRouter::onIceState(Media& ep, Clock::time_point now) {
  const auto state = ep.ice->state();
  if (state != ep.lastIceState) {
    ep.lastIceState = state;
    if (state == ice::IceState::kConnected && !ep.everConnected) {
      ep.everConnected = true;
      reportIce(ep, IceEvent{});  // a restart can keep something from now on
    }
    if (state == ice::IceState::kConnected) {
      bump(counters_.iceSucceeded);
      LOG_INFO("media", "{}: ICE connected to {}:{}", ep.tag,
               ep.ice->selectedRemote() ? ep.ice->selectedRemote()->address().to_string() : "?",
               ep.ice->selectedRemote() ? ep.ice->selectedRemote()->port() : 0);
      if (auto r = ep.ice->selectedRemote()) {
        bindTuple(ep, *r);
      }
    } else if (state == ice::IceState::kDisconnected || state == ice::IceState::kFailed) {
      bump(counters_.iceFailed);
      LOG_WARN("media", "{}: ICE {}", ep.tag,
               state == ice::IceState::kFailed ? "failed" : "disconnected (consent expired)");
    }
  }
  if (state == ice::IceState::kConnected) {
    ensureDtls(ep, now);
  }
}

void MediaRouter::onIceMoved(Media& ep, const UdpEndpoint& from, const UdpEndpoint& to) {
  // The peer's NAT rebound (ice_agent.hpp, "Following the peer"): media,
  // RTCP and DTLS go to the new address from now on (destination()); the
  // old 5-tuple is no longer the endpoint's.
  bump(counters_.icePeerMoves);
  LOG_INFO("media", "{}: ICE selected pair moved from {}:{} to {}:{}", ep.tag,
           from.address().to_string(), from.port(), to.address().to_string(), to.port());
  bindTuple(ep, to);
  if (auto b = byTuple_.find(from); b != byTuple_.end() && b->second == &ep) {
    byTuple_.erase(b);
    std::erase(ep.tuples, from);
  }
  if (ep.dtlsPeer == from) {
    ep.dtlsPeer = to;
  }
}

}  // namespace jvb::media

// Building Colibri2 answers: <conference-modified> and colibri2 errors.
#include <utility>

#include "common/log.hpp"
#include "xmpp/colibri2.hpp"

namespace jvb::xmpp {

namespace {

using control::ErrorCondition;
using control::ErrorReason;

void setAttr(xmpp_stanza_t* s, const char* name, const std::string& value) {
  xmpp_stanza_set_attribute(s, name, value.c_str());
}

StanzaPtr candidateElement(xmpp_ctx_t* ctx, const ice::Candidate& c) {
  auto el = element(ctx, "candidate");
  setAttr(el.get(), "foundation", c.foundation);
  setAttr(el.get(), "component", std::to_string(c.component));
  setAttr(el.get(), "protocol", c.protocol);
  setAttr(el.get(), "priority", std::to_string(c.priority));
  setAttr(el.get(), "ip", c.ip);
  setAttr(el.get(), "port", std::to_string(c.port));
  setAttr(el.get(), "type", c.type);
  if (!c.relAddr.empty()) {
    setAttr(el.get(), "rel-addr", c.relAddr);
    setAttr(el.get(), "rel-port", std::to_string(c.relPort));
  }
  setAttr(el.get(), "generation", std::to_string(c.generation));
  setAttr(el.get(), "network", std::to_string(c.network));
  setAttr(el.get(), "id", c.id);
  return el;
}

// Endpoint.describeTransport: ICE (ufrag, pwd, candidates, rtcp-mux), DTLS
// (fingerprint with our setup role), then the colibri-ws URL.
StanzaPtr iceUdpElement(xmpp_ctx_t* ctx, const control::ModifyReply& reply,
                        const control::EndpointReply& ep, const Colibri2Local& local) {
  const control::LocalTransport& t = *ep.transport;
  auto ice = element(ctx, "transport", kNsIceUdp);
  setAttr(ice.get(), "ufrag", t.ice.ufrag);
  setAttr(ice.get(), "pwd", t.ice.pwd);
  if (t.iceGeneration) {
    // An ICE restart's transport (IceTransport.describe: only for the round
    // in flight); lib-jitsi-meet takes it only when >= 1 and newer.
    setAttr(ice.get(), "ice-generation", std::to_string(*t.iceGeneration));
  }
  for (const auto& c : local.candidates) {
    adopt(ice.get(), candidateElement(ctx, c));
  }
  adopt(ice.get(), element(ctx, "rtcp-mux"));
  auto fp = element(ctx, "fingerprint", kNsDtls);
  setAttr(fp.get(), "hash", "sha-256");
  setAttr(fp.get(), "setup", t.dtlsSetup);
  addText(ctx, fp.get(), local.fingerprint);
  adopt(ice.get(), std::move(fp));
  if (local.websocket.enabled && !local.websocket.domain.empty()) {
    auto ws = element(ctx, "web-socket", kNsColibri);
    setAttr(ws.get(), "url",
            colibriWebSocketUrl(local.websocket, reply.internalId, ep.id, t.websocketPassword));
    adopt(ice.get(), std::move(ws));
  }
  return ice;
}

StanzaPtr feedbackSource(xmpp_ctx_t* ctx, const char* type, const char* name, uint32_t ssrc) {
  auto ms = element(ctx, "media-source");
  setAttr(ms.get(), "type", type);
  setAttr(ms.get(), "id", name);
  auto src = element(ctx, "source", kNsSsma);
  setAttr(src.get(), "ssrc", std::to_string(ssrc));
  setAttr(src.get(), "name", name);
  adopt(ms.get(), std::move(src));
  return ms;
}

// Smack's default error type per condition (RFC 6120 section 8.3.3).
const char* conditionType(ErrorCondition c) {
  switch (c) {
    case ErrorCondition::kBadRequest:
      return "modify";
    case ErrorCondition::kInternalServerError:
      return "wait";
    case ErrorCondition::kConflict:
    case ErrorCondition::kFeatureNotImplemented:
    case ErrorCondition::kItemNotFound:
    case ErrorCondition::kServiceUnavailable:
      return "cancel";
  }
  return "cancel";
}

}  // namespace

const char* conditionName(control::ErrorCondition c) {
  switch (c) {
    case control::ErrorCondition::kBadRequest:
      return "bad-request";
    case control::ErrorCondition::kConflict:
      return "conflict";
    case control::ErrorCondition::kFeatureNotImplemented:
      return "feature-not-implemented";
    case control::ErrorCondition::kItemNotFound:
      return "item-not-found";
    case control::ErrorCondition::kServiceUnavailable:
      return "service-unavailable";
    case control::ErrorCondition::kInternalServerError:
      return "internal-server-error";
  }
  return "internal-server-error";
}

WebsocketSettings websocketSettings(const config::BridgeConfig& cfg) {
  return WebsocketSettings{cfg.websocketsEnabled, cfg.websocketsDomain, cfg.websocketsTls,
                           cfg.websocketsServerId};
}

std::string colibriWebSocketUrl(const WebsocketSettings& ws, const std::string& conferenceId,
                                const std::string& endpointId, const std::string& pwd) {
  return std::string(ws.tls ? "wss://" : "ws://") + ws.domain + "/colibri-ws/" + ws.serverId + "/" +
         conferenceId + "/" + endpointId + "?pwd=" + pwd;
}

StanzaPtr buildConferenceModified(xmpp_ctx_t* ctx, const control::ModifyReply& reply,
                                  const Colibri2Local& local) {
  auto modified = element(ctx, "conference-modified", kNsColibri2);
  for (const auto& ep : reply.endpoints) {
    auto e = element(ctx, "endpoint");
    setAttr(e.get(), "id", ep.id);
    if (ep.expired) {
      setAttr(e.get(), "expire", "true");
    }
    if (ep.transport) {
      auto transport = element(ctx, "transport");
      adopt(transport.get(), iceUdpElement(ctx, reply, ep, local));
      if (ep.transport->sctp) {
        auto sctp = element(ctx, "sctp");
        setAttr(sctp.get(), "port", std::to_string(control::kSctpPort));
        setAttr(sctp.get(), "role", "server");
        adopt(transport.get(), std::move(sctp));
      }
      adopt(e.get(), std::move(transport));
    }
    adopt(modified.get(), std::move(e));
  }
  if (reply.feedbackSources) {
    auto sources = element(ctx, "sources");
    adopt(sources.get(), feedbackSource(ctx, "audio", "jvb-a0", reply.feedbackAudioSsrc));
    adopt(sources.get(), feedbackSource(ctx, "video", "jvb-v0", reply.feedbackVideoSsrc));
    adopt(modified.get(), std::move(sources));
  }
  return modified;
}

std::vector<StanzaPtr> errorExtensions(xmpp_ctx_t* ctx, const control::ModifyError& error) {
  std::vector<StanzaPtr> out;
  if (error.reason != ErrorReason::kNone) {
    auto reason = element(ctx, "error", kNsColibri2);
    setAttr(reason.get(), "reason", std::string(control::reasonName(error.reason)));
    out.push_back(std::move(reason));
  }
  if (error.reason == ErrorReason::kUnknownEndpoint) {
    auto ep = element(ctx, "endpoint", kNsColibri2);
    setAttr(ep.get(), "id", error.endpointId);
    out.push_back(std::move(ep));
  }
  return out;
}

IqError toIqError(xmpp_ctx_t* ctx, const control::ModifyError& error) {
  IqError e{conditionType(error.condition), conditionName(error.condition), error.text, {}};
  // JVB (Colibri2Util.createEndpointNotFoundError) puts two extensions in
  // <error>: the colibri2 <error reason='unknown_endpoint'/> and
  // <endpoint xmlns='jitsi:colibri2' id/>; Jicofo re-invites just that
  // endpoint only when it finds both.
  e.extensions = errorExtensions(ctx, error);
  return e;
}

}  // namespace jvb::xmpp

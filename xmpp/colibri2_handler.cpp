// The Colibri2 IQ handler: <conference-modify> parsed, applied to the
// conference registry, answered with <conference-modified> or an error.
#include <utility>

#include "common/log.hpp"
#include "xmpp/colibri2.hpp"

namespace jvb::xmpp {

namespace {

std::string describe(const control::ConferenceModify& req) {
  std::string s = "meeting-id=" + req.meetingId;
  if (req.create) {
    s += " create";
  }
  if (req.expire) {
    s += " expire";
  }
  for (const auto& e : req.endpoints) {
    s += " endpoint=" + e.id;
    s += e.create ? "(create)" : e.expire ? "(expire)" : "";
  }
  return s;
}

}  // namespace

void registerColibri2(IqDispatcher& iqs, control::ConferenceRegistry& registry,
                      const Colibri2Local& local, std::function<bool()> refuseNewConferences) {
  registerColibri2(iqs, registry, std::make_shared<const Colibri2Local>(local),
                   std::move(refuseNewConferences));
}

void registerColibri2(IqDispatcher& iqs, control::ConferenceRegistry& registry,
                      std::shared_ptr<const Colibri2Local> local,
                      std::function<bool()> refuseNewConferences) {
  // Deferred: answered in bounded batches after the health checks read with
  // it (XmppService), never on the read path.
  iqs.addDeferred("conference-modify", kNsColibri2,
                  [&registry, local = std::move(local), refuse = std::move(refuseNewConferences)](
                      xmpp_ctx_t* ctx, xmpp_stanza_t* iq, xmpp_stanza_t* payload) -> IqOutcome {
                    auto parsed = parseConferenceModify(payload);
                    if (auto* bad = std::get_if<IqError>(&parsed)) {
                      LOG_WARN("colibri2", "malformed conference-modify from {}: {}",
                               attr(iq, "from"), bad->text);
                      return std::move(*bad);
                    }
                    const auto& request = std::get<control::ConferenceModify>(parsed);
                    LOG_DEBUG("colibri2", "conference-modify {}", describe(request));
                    const auto result = registry.apply(request, refuse ? refuse() : false);
                    if (!result.ok()) {
                      const auto& err = *result.error;
                      // As JVB: item-not-found is routine (a late request for an
                      // expired endpoint), anything else is an error.
                      if (err.condition == control::ErrorCondition::kItemNotFound) {
                        LOG_WARN("colibri2", "conference-modify {}: {}", describe(request),
                                 err.text);
                      } else {
                        LOG_ERROR("colibri2", "conference-modify {}: {} {}", describe(request),
                                  conditionName(err.condition), err.text);
                      }
                      return toIqError(ctx, err);
                    }
                    return buildConferenceModified(ctx, result.reply, *local);
                  });
}

}  // namespace jvb::xmpp

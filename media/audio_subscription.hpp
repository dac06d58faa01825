#pragma once
// A receiver's audio filter, from its ReceiverAudioSubscription bridge-channel
// message (bridge_channel.hpp parses it).
//
// JVB semantics (ReceiverAudioSubscriptionMessage, AudioSubscription.kt,
// AudioSubscriptionManager.kt):
//  - The message carries `all` (default false), `include` and `exclude`
//    (default empty). A regular source is wanted when it is not in `exclude`
//    and either in `include` or `all` is true. A synthetic source is wanted
//    only when named in `include` and not in `exclude` (`all` never selects
//    it).
//  - Legacy form: `mode` "All" | "None" | "Include" | "Exclude" (exact case;
//    any other value rejects the message) with `list`; JVB maps All to
//    all=true, None to all=false, Include to all=false + include=list, and
//    Exclude to all=true + exclude=list. When `mode` is present the other
//    fields are ignored.
//  - No message at all: every regular source, no synthetic one (kAll here).
//    A message with no fields means all=false: nothing.
//
// Here that is folded into `mode` + `sources` for regular sources:
//   all=true:  exclude empty -> kAll, else kExclude(exclude)
//   all=false: include minus exclude empty -> kNone, else kInclude(that)
// and `included` keeps include minus exclude for synthetic sources.
#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace jvb::media {

struct AudioSubscription {
  enum class Mode { kAll, kNone, kInclude, kExclude };
  Mode mode = Mode::kAll;
  // kInclude: the wanted source names; kExclude: the unwanted ones.
  std::vector<std::string> sources;
  // The `include` names not excluded: the only synthetic sources wanted.
  std::vector<std::string> included;

  // Whether a regular (non-synthetic) source is wanted.
  bool allows(std::string_view sourceName) const {
    switch (mode) {
      case Mode::kAll:
        return true;
      case Mode::kNone:
        return false;
      case Mode::kInclude:
        return contains(sources, sourceName);
      case Mode::kExclude:
        return !contains(sources, sourceName);
    }
    return false;
  }
  // Whether a synthetic source is wanted.
  bool allowsSynthetic(std::string_view sourceName) const { return contains(included, sourceName); }

  bool operator==(const AudioSubscription&) const = default;

  // From JVB's fields (see above). Duplicate names are dropped, order kept.
  static AudioSubscription fromFields(bool all, const std::vector<std::string>& include,
                                      const std::vector<std::string>& exclude) {
    const std::unordered_set<std::string_view> excluded(exclude.begin(), exclude.end());
    AudioSubscription s;
    std::unordered_set<std::string_view> seen;
    for (const auto& name : include) {
      if (excluded.count(name) == 0 && seen.insert(name).second) {
        s.included.push_back(name);
      }
    }
    if (all) {
      seen.clear();
      for (const auto& name : exclude) {
        if (seen.insert(name).second) {
          s.sources.push_back(name);
        }
      }
      s.mode = s.sources.empty() ? Mode::kAll : Mode::kExclude;
    } else {
      s.sources = s.included;
      s.mode = s.sources.empty() ? Mode::kNone : Mode::kInclude;
    }
    return s;
  }

 private:
  static bool contains(const std::vector<std::string>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  }
};

}  // namespace jvb::media

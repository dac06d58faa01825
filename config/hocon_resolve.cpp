// HOCON object merging, substitution resolution, durations and helpers.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "config/hocon.hpp"
#include "config/hocon_internal.hpp"

namespace jvb::config::hocon {

namespace detail {

bool isUnresolved(const Node& n) {
  return n.kind == Kind::kSubstitution || n.kind == Kind::kConcatenation || n.kind == Kind::kMerge;
}

NodePtr makeNode(Kind kind, const Origin& origin) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  n->origin = origin;
  return n;
}

void mergeField(Node& obj, const std::string& key, NodePtr value) {
  Field* field = nullptr;
  for (auto& f : obj.fields) {
    if (f.key == key) {
      field = &f;
      break;
    }
  }
  if (field == nullptr) {
    obj.fields.push_back(Field{key, std::move(value)});
    return;
  }
  if (!field->value) {
    field->value = std::move(value);
    return;
  }
  NodePtr& existing = field->value;
  if (value->isObject() && existing->isObject()) {
    for (auto& f : value->fields) {
      if (f.value)
        mergeField(*existing, f.key, f.value);
    }
    return;
  }
  if ((value->isObject() && isUnresolved(*existing)) || isUnresolved(*value)) {
    // Decided once substitutions are known: ${?x} may leave the older value
    // in place, and an object merges with an older object.
    const int layers = std::max(existing->layers, value->layers) + 1;
    if (layers > kMaxMergeLayers) {
      throw ConfigError(value->origin.file, value->origin.line, value->key,
                        fmt::format("too many overrides of a value that uses substitutions "
                                    "(limit {})",
                                    kMaxMergeLayers));
    }
    NodePtr merge = makeNode(Kind::kMerge, value->origin);
    merge->key = value->key;
    merge->layers = layers;
    merge->items = {existing, std::move(value)};
    existing = std::move(merge);
    return;
  }
  existing = std::move(value);
}

namespace {

class Resolver {
 public:
  Resolver(Node& root, const ParseOptions& options) : root_(root), options_(options) {}

  void run() {
    resolveContainer(root_);
    sweep(root_, 0);
  }

 private:
  struct Guard {
    Guard(Resolver& r, const Node& n) : r_(r) {
      if (++r_.depth_ > kMaxResolveDepth) {
        throw ConfigError(
            n.origin.file, n.origin.line, n.key,
            fmt::format("substitutions nested too deeply (limit {})", kMaxResolveDepth));
      }
    }
    ~Guard() { --r_.depth_; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Resolver& r_;
  };
  struct InProgress {
    explicit InProgress(Node& n) : n_(n) { n_.resolving = true; }
    ~InProgress() { n_.resolving = false; }
    InProgress(const InProgress&) = delete;
    InProgress& operator=(const InProgress&) = delete;
    Node& n_;
  };

  [[noreturn]] static void fail(const Node& n, const std::string& message) {
    throw ConfigError(n.origin.file, n.origin.line, n.key, message);
  }

  // The concrete value of `n`, or nullptr when it is undefined (an
  // unresolved ${?x}).
  NodePtr resolveValue(const NodePtr& n) {
    Guard guard(*this, *n);
    if (n->resolving)
      fail(*n, "substitution cycle: this value refers to itself");
    switch (n->kind) {
      case Kind::kObject:
      case Kind::kList:
        resolveContainer(*n);
        return n;
      case Kind::kSubstitution:
        return resolveSubstitution(n);
      case Kind::kConcatenation:
        return resolveConcatenation(n);
      case Kind::kMerge:
        return resolveMerge(n);
      default:
        return n;
    }
  }

  void resolveContainer(Node& n) {
    if (n.resolved)
      return;
    Guard guard(*this, n);
    bool complete = true;
    if (n.isObject()) {
      for (size_t i = 0; i < n.fields.size(); ++i) {
        NodePtr v = n.fields[i].value;
        if (!v)
          continue;
        if (v->resolving) {  // being resolved further up the stack
          complete = false;
          continue;
        }
        n.fields[i].value = resolveValue(v);
      }
    } else {
      for (size_t i = 0; i < n.items.size(); ++i) {
        NodePtr v = n.items[i];
        if (!v)
          continue;
        if (v->resolving) {
          complete = false;
          continue;
        }
        n.items[i] = resolveValue(v);
      }
    }
    n.resolved = complete;
  }

  NodePtr resolveSubstitution(const NodePtr& n) {
    InProgress mark(*n);
    if (NodePtr target = lookup(n->path))
      return copy(*target, 0);
    std::string name;
    for (const auto& e : n->path)
      name += (name.empty() ? "" : ".") + e;
    if (std::optional<std::string> env = environment(name)) {
      NodePtr s = makeNode(Kind::kString, n->origin);
      s->text = std::move(*env);
      s->key = n->key;
      return s;
    }
    if (n->optional)
      return nullptr;
    fail(*n, fmt::format("could not resolve substitution ${{{}}}: not set in the configuration "
                         "nor in the environment",
                         n->text));
  }

  NodePtr resolveConcatenation(const NodePtr& n) {
    InProgress mark(*n);
    std::vector<NodePtr> values;  // whitespace pieces kept between values
    for (const auto& part : n->items) {
      if (part->whitespace) {
        if (!values.empty())
          values.push_back(part);
        continue;
      }
      if (NodePtr v = resolveValue(part))
        values.push_back(std::move(v));
    }
    while (!values.empty() && values.back()->whitespace)
      values.pop_back();
    if (values.empty())
      return nullptr;
    if (values.size() == 1)
      return values.front();

    const Node* firstComplex = nullptr;
    const Node* firstSimple = nullptr;
    for (const auto& v : values) {
      if (v->whitespace)
        continue;
      if (v->isObject() || v->isList()) {
        if (firstComplex == nullptr)
          firstComplex = v.get();
        if (firstComplex->kind != v->kind) {
          fail(*n,
               "cannot concatenate " + describeValue(*firstComplex) + " and " + describeValue(*v));
        }
      } else if (firstSimple == nullptr) {
        firstSimple = v.get();
      }
    }
    if (firstComplex != nullptr && firstSimple != nullptr) {
      fail(*n, "cannot concatenate " + describeValue(*firstComplex) + " and " +
                   describeValue(*firstSimple));
    }
    NodePtr result;
    if (firstComplex == nullptr) {
      result = makeNode(Kind::kString, n->origin);
      for (const auto& v : values)
        result->text += v->text;
      result->quoted = true;
    } else if (firstComplex->isList()) {
      result = makeNode(Kind::kList, n->origin);
      for (const auto& v : values) {
        if (!v->whitespace)
          result->items.insert(result->items.end(), v->items.begin(), v->items.end());
      }
      result->resolved = true;
    } else {
      result = makeNode(Kind::kObject, n->origin);
      for (const auto& v : values) {
        if (v->whitespace)
          continue;
        for (const auto& f : v->fields) {
          if (f.value)
            mergeField(*result, f.key, copy(*f.value, 0));
        }
      }
      result->resolved = true;
    }
    result->key = n->key;
    return result;
  }

  NodePtr resolveMerge(const NodePtr& n) {
    InProgress mark(*n);
    NodePtr newer = resolveValue(n->items[1]);
    if (!newer)
      return resolveOlder(*n);
    if (!newer->isObject())
      return newer;
    NodePtr older = resolveOlder(*n);
    if (!older || !older->isObject())
      return newer;
    NodePtr result = copy(*older, 0);
    for (const auto& f : newer->fields) {
      if (f.value)
        mergeField(*result, f.key, f.value);
    }
    return result;
  }

  NodePtr resolveOlder(Node& merge) {
    NodePtr older = resolveValue(merge.items[0]);
    if (older)
      merge.items[0] = older;
    return older;
  }

  // The resolved value at an absolute path, or nullptr.
  NodePtr lookup(const std::vector<std::string>& path) {
    Node* cur = &root_;
    NodePtr result;
    for (size_t i = 0; i < path.size(); ++i) {
      if (!cur->isObject())
        return nullptr;
      size_t index = cur->fields.size();
      for (size_t j = 0; j < cur->fields.size(); ++j) {
        if (cur->fields[j].key == path[i])
          index = j;
      }
      if (index == cur->fields.size() || !cur->fields[index].value)
        return nullptr;
      NodePtr v = cur->fields[index].value;
      if (v->resolving) {
        // A value referring to its own key sees the value it overrides: the
        // older side of the innermost merge being resolved.
        for (Node* m = v.get(); i + 1 == path.size() && m->kind == Kind::kMerge && m->resolving;
             m = m->items[0].get()) {
          if (!m->items[0]->resolving)
            return resolveOlder(*m);
        }
        return nullptr;
      }
      result = resolveValue(v);
      cur->fields[index].value = result;
      if (!result)
        return nullptr;
      cur = result.get();
    }
    return result;
  }

  std::optional<std::string> environment(const std::string& name) const {
    if (!options_.useEnvironment)
      return std::nullopt;
    if (options_.environment)
      return options_.environment(name);
    if (const char* v = std::getenv(name.c_str()))
      return std::string(v);
    return std::nullopt;
  }

  // Substituted values are copied so that every node has one parent.
  NodePtr copy(const Node& n, int depth) {
    if (++copied_ > kMaxNodes) {
      fail(n,
           fmt::format("configuration too large after substitutions (limit {} values)", kMaxNodes));
    }
    if (depth > kMaxResolveDepth + kMaxDepth)
      fail(n, "values nested too deeply");
    if (isUnresolved(n) || n.resolving) {
      fail(n, "substitution cycle: this value refers to itself");
    }
    auto c = std::make_shared<Node>(n);
    for (auto& item : c->items) {
      if (item)
        item = copy(*item, depth + 1);
    }
    for (auto& f : c->fields) {
      if (f.value)
        f.value = copy(*f.value, depth + 1);
    }
    return c;
  }

  // Drops fields and list elements that resolved to nothing.
  static void sweep(Node& n, int depth) {
    if (depth > kMaxResolveDepth + kMaxDepth)
      fail(n, "values nested too deeply");
    std::erase_if(n.fields, [](const Field& f) { return !f.value; });
    std::erase_if(n.items, [](const NodePtr& p) { return !p; });
    for (auto& f : n.fields)
      sweep(*f.value, depth + 1);
    for (auto& item : n.items)
      sweep(*item, depth + 1);
  }

  Node& root_;
  const ParseOptions& options_;
  int depth_ = 0;
  size_t copied_ = 0;
};

}  // namespace

void resolve(Node& root, const ParseOptions& options) {
  Resolver(root, options).run();
}

}  // namespace detail

}  // namespace jvb::config::hocon

// Topological sorting and structure checks of the graphs of a ModelProto (graph_order.h).
#include "onnx/graph_order.h"

#include <functional>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "graft/core/error.h"
#include "graft/core/limits.h"

namespace graft::onnx {

namespace {

using google::protobuf::RepeatedPtrField;
using ::onnx::GraphProto;
using ::onnx::NodeProto;

std::string node_label(const NodeProto& n, int index) {
  return n.op_type() + " \"" + (n.name().empty() ? n.op_type() + "#" + std::to_string(index) : n.name()) + "\"";
}

// Calls f(graph, attribute name) for every sub-graph attribute of `n`.
template <typename Node, typename F>
void for_each_subgraph(Node& n, F&& f) {
  for (int a = 0; a < n.attribute_size(); ++a) {
    auto* attr = const_cast<::onnx::AttributeProto*>(&n.attribute(a));
    if (attr->has_g()) f(*attr->mutable_g(), attr->name());
    for (int k = 0; k < attr->graphs_size(); ++k) f(*attr->mutable_graphs(k), attr->name());
  }
}

// Names visible in a graph: its own (inputs, initializers, node outputs) and, through `parent`, those of
// the enclosing graphs.
struct Scope {
  const Scope* parent = nullptr;
  std::unordered_set<std::string> names;
  bool has(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent)
      if (s->names.count(name)) return true;
    return false;
  }
};

// Names a graph reads from enclosing scopes, nested sub-graphs included (the implicit inputs of the node
// that holds it: they must be computed before that node runs).
void collect_free_names(const GraphProto& g, std::set<std::string>& out, int depth, const std::string& what) {
  GRAFT_CHECK(depth <= kMaxGraphNesting, what, ": sub-graphs are nested more than ", kMaxGraphNesting,
              " levels deep (a corrupted or hostile file?)");
  std::unordered_set<std::string> local;
  for (const auto& i : g.input()) local.insert(i.name());
  for (const auto& t : g.initializer()) local.insert(t.name());
  for (const auto& t : g.sparse_initializer()) local.insert(t.values().name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) local.insert(o);
  for (const auto& n : g.node()) {
    for (const auto& in : n.input())
      if (!in.empty() && !local.count(in)) out.insert(in);
    for_each_subgraph(n, [&](const GraphProto& sub, const std::string&) {
      std::set<std::string> inner;
      collect_free_names(sub, inner, depth + 1, what);
      for (const auto& name : inner)
        if (!local.count(name)) out.insert(name);
    });
  }
  for (const auto& o : g.output())
    if (!local.count(o.name())) out.insert(o.name());
}

class Orderer {
 public:
  explicit Orderer(const std::string& what) : what_(what) {}

  void graph(GraphProto& g, const Scope* outer, const std::string& where, int depth) {
    GRAFT_CHECK(depth <= kMaxGraphNesting, what_, ": ", where, ": sub-graphs are nested more than ", kMaxGraphNesting,
                " levels deep (a corrupted or hostile file?)");
    Scope here{outer, {}};
    for (const auto& i : g.input()) here.names.insert(i.name());
    for (const auto& t : g.initializer()) here.names.insert(t.name());
    for (const auto& t : g.sparse_initializer()) here.names.insert(t.values().name());
    std::vector<std::string> outputs;
    for (const auto& o : g.output()) outputs.push_back(o.name());
    nodes(*g.mutable_node(), here, outputs, where, depth);
  }

  void nodes(RepeatedPtrField<NodeProto>& list, Scope& here, const std::vector<std::string>& outputs,
             const std::string& where, int depth) {
    const int n = list.size();
    std::unordered_map<std::string, int> producer;
    for (int k = 0; k < n; ++k) {
      const NodeProto& node = list.Get(k);
      GRAFT_CHECK(!node.op_type().empty(), what_, ": ", where, "node #", k, " has no op_type (corrupted file?)");
      for (const auto& o : node.output()) {
        if (o.empty()) continue;
        auto [it, fresh] = producer.emplace(o, k);
        GRAFT_CHECK(fresh, what_, ": ", where, node_label(node, k), " defines '", o, "', which ",
                    node_label(list.Get(it->second), it->second), " defines too (names must be unique)");
      }
    }
    // Sub-graphs first: they may read any name of this graph (the dependencies below order those reads).
    Scope inner{&here, here.names};
    for (const auto& [name, k] : producer) inner.names.insert(name);
    for (int k = 0; k < n; ++k) {
      NodeProto& node = *list.Mutable(k);
      for_each_subgraph(node, [&](GraphProto& sub, const std::string& attr) {
        graph(sub, &inner, where + node_label(node, k) + " " + attr + ": ", depth + 1);
      });
    }
    // Dependencies: a node after every producer of a name it reads, directly or from its sub-graphs.
    std::vector<std::vector<int>> users(static_cast<size_t>(n));
    std::vector<int> waiting(static_cast<size_t>(n), 0);
    for (int k = 0; k < n; ++k) {
      const NodeProto& node = list.Get(k);
      std::set<std::string> reads;
      for (const auto& in : node.input())
        if (!in.empty()) reads.insert(in);
      for_each_subgraph(node, [&](const GraphProto& sub, const std::string&) {
        collect_free_names(sub, reads, depth + 1, what_);
      });
      for (const auto& name : reads) {
        auto it = producer.find(name);
        if (it == producer.end()) {
          GRAFT_CHECK(here.has(name), what_, ": ", where, node_label(node, k), " reads '", name,
                      "', which no graph input, initializer or node defines (truncated or corrupted file?)");
          continue;
        }
        GRAFT_CHECK(it->second != k, what_, ": ", where, node_label(node, k), " reads its own output '", name, "'");
        users[size_t(it->second)].push_back(k);
        ++waiting[size_t(k)];
      }
    }
    // Kahn's algorithm taking the lowest index first: stable, a sorted graph keeps its order.
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
    for (int k = 0; k < n; ++k)
      if (waiting[size_t(k)] == 0) ready.push(k);
    std::vector<int> order;
    order.reserve(size_t(n));
    while (!ready.empty()) {
      int k = ready.top();
      ready.pop();
      order.push_back(k);
      for (int u : users[size_t(k)])
        if (--waiting[size_t(u)] == 0) ready.push(u);
    }
    if (int(order.size()) < n) {
      std::string cycle;
      int shown = 0;
      for (int k = 0; k < n && shown < 5; ++k)
        if (waiting[size_t(k)] > 0) cycle += std::string(shown++ ? ", " : "") + node_label(list.Get(k), k);
      fail(what_, ": ", where, "the graph has a cycle: ", n - int(order.size()),
           " nodes depend on each other's outputs, among them ", cycle);
    }
    for (const auto& o : outputs)
      GRAFT_CHECK(producer.count(o) || here.has(o), what_, ": ", where, "graph output '", o,
                  "' is not produced by any node (truncated or corrupted file?)");
    bool sorted = true;
    for (int k = 0; k < n; ++k) sorted &= order[size_t(k)] == k;
    if (sorted) return;
    std::vector<NodeProto> moved(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) moved[size_t(k)].Swap(list.Mutable(order[size_t(k)]));
    for (int k = 0; k < n; ++k) list.Mutable(k)->Swap(&moved[size_t(k)]);
  }

 private:
  const std::string& what_;
};

// Local functions called (directly or in sub-graphs) by the nodes of `list`.
template <typename Nodes>
void collect_calls(const Nodes& list, const std::map<std::string, const ::onnx::FunctionProto*>& functions,
                   std::set<std::string>& out, int depth, const std::string& what) {
  GRAFT_CHECK(depth <= kMaxGraphNesting, what, ": sub-graphs are nested more than ", kMaxGraphNesting, " levels deep");
  for (const auto& n : list) {
    std::string key = (n.domain() == "ai.onnx" ? std::string() : n.domain()) + ":" + n.op_type();
    if (functions.count(key)) out.insert(key);
    for_each_subgraph(n, [&](const GraphProto& sub, const std::string&) {
      collect_calls(sub.node(), functions, out, depth + 1, what);
    });
  }
}

}  // namespace

void order_model_graphs(::onnx::ModelProto& model, const std::string& what) {
  Orderer orderer(what);
  orderer.graph(*model.mutable_graph(), nullptr, "", 0);

  std::map<std::string, const ::onnx::FunctionProto*> functions;
  for (const auto& f : model.functions())
    functions[(f.domain() == "ai.onnx" ? std::string() : f.domain()) + ":" + f.name()] = &f;
  for (auto& f : *model.mutable_functions()) {
    Scope inputs;
    for (const auto& i : f.input()) inputs.names.insert(i);
    std::vector<std::string> outputs(f.output().begin(), f.output().end());
    orderer.nodes(*f.mutable_node(), inputs, outputs, "function '" + f.name() + "': ", 0);
  }
  // Functions calling functions: refuse recursion (the tracer inlines calls) and overly deep chains.
  std::map<std::string, std::set<std::string>> calls;
  for (const auto& [key, f] : functions) collect_calls(f->node(), functions, calls[key], 0, what);
  std::map<std::string, int> height;  // longest chain of calls below a function; -1 while being visited
  std::function<int(const std::string&)> visit = [&](const std::string& key) -> int {
    auto [it, fresh] = height.emplace(key, -1);
    if (!fresh) return it->second;
    int h = 0;
    for (const auto& callee : calls[key]) {
      auto c = height.find(callee);
      GRAFT_CHECK(c == height.end() || c->second >= 0, what, ": local function '", key, "' calls '", callee,
                  "', which is already being called: recursive functions cannot be inlined");
      h = std::max(h, 1 + visit(callee));
    }
    GRAFT_CHECK(h <= kMaxGraphNesting, what, ": local functions call each other more than ", kMaxGraphNesting,
                " levels deep (from '", key, "')");
    height[key] = h;
    return h;
  };
  for (const auto& [key, f] : functions) visit(key);
}

void collect_names_read(const ::onnx::GraphProto& graph, std::set<std::string>& names) {
  for (const auto& n : graph.node()) {
    for (const auto& i : n.input()) names.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_names_read(a.g(), names);
      for (const auto& sg : a.graphs()) collect_names_read(sg, names);
    }
  }
  for (const auto& o : graph.output()) names.insert(o.name());
}

}  // namespace graft::onnx

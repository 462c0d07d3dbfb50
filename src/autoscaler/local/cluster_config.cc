#include "autoscaler/local/cluster_config.h"

#include <set>

#include "common/error.h"
#include "common/json_file.h"
#include "common/yaml_fields.h"
#include "gateway/gateway_config.h"

namespace tide::autoscaler {
namespace {

using std::chrono::milliseconds;

YAML::Node parse_yaml(std::string_view text, const std::string& source) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw Error(source + ": not valid YAML: " + e.what());
  }
}

// `devices: cpu`, or a list of GPU groups: `[[0], [1]]`, or `[0, 1]` for one GPU per replica.
std::vector<std::vector<int>> parse_devices(const YAML::Node& node, const std::string& path) {
  if (!node || node.IsNull()) return {};
  if (node.IsScalar()) {
    if (node.Scalar() == "cpu") return {};
    throw Error(path + ": expected `cpu` or a list of GPU ids or groups, got \"" + node.Scalar() + "\"");
  }
  require_sequence(node, path);
  std::vector<std::vector<int>> groups;
  std::set<int> seen;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    std::vector<int> group;
    auto add = [&](const YAML::Node& id, const std::string& id_path) {
      const int gpu = static_cast<int>(yaml_integer(id, id_path, 0, 1023));
      if (!seen.insert(gpu).second) throw Error(id_path + ": GPU " + std::to_string(gpu) + " is in two groups");
      group.push_back(gpu);
    };
    if (node[i].IsSequence()) {
      if (node[i].size() == 0) throw Error(item_path + ": an empty GPU group");
      for (std::size_t j = 0; j < node[i].size(); ++j) add(node[i][j], item_path + "[" + std::to_string(j) + "]");
    } else {
      add(node[i], item_path);
    }
    groups.push_back(std::move(group));
  }
  if (groups.empty()) throw Error(path + ": an empty list; use `cpu` for CPU replicas");
  return groups;
}

ClusterPool parse_pool(const YAML::Node& node, const std::string& path) {
  YamlFields f(node, path);
  ClusterPool pool;
  pool.name = f.string("name", "");
  if (pool.name.empty()) throw Error(f.field_path("name") + ": required");
  pool.model = f.string("model", pool.model);
  if (const auto args = f.child("serve_args"); args && !args.IsNull()) {
    require_sequence(args, f.field_path("serve_args"));
    for (std::size_t i = 0; i < args.size(); ++i)
      pool.serve_args.push_back(yaml_scalar(args[i], f.field_path("serve_args") + "[" + std::to_string(i) + "]"));
  }
  for (const auto& arg : pool.serve_args)
    for (const char* own : {"--host", "--port", "--model", "--drain-timeout"})
      if (arg == own || arg.starts_with(std::string(own) + "="))
        throw Error(f.field_path("serve_args") + ": " + own + " is set by tide up (use `model:` / `drain_timeout:`)");
  pool.device_groups = parse_devices(f.child("devices"), f.field_path("devices"));
  pool.cpu_threads = static_cast<int>(f.integer("cpu_threads", 0, 0, 1024));
  pool.start_timeout = f.duration("start_timeout", pool.start_timeout, milliseconds(1000), std::chrono::hours(2));
  pool.drain_timeout = f.duration("drain_timeout", pool.drain_timeout, milliseconds(0), std::chrono::hours(1));
  pool.gateway = f.child("gateway");
  if (pool.gateway && !pool.gateway.IsNull() && !pool.gateway.IsMap())
    throw Error(f.field_path("gateway") + ": expected a mapping of the pool's gateway settings");
  for (const char* owned : {"name", "replicas", "dns", "file", "file_poll"})
    if (pool.gateway && pool.gateway.IsMap() && pool.gateway[owned])
      throw Error(f.field_path("gateway") + "." + owned + ": set by tide up, which lists the pool's ready replicas");
  if (f.has("autoscaling")) pool.scaling = parse_scaling_config(f.child("autoscaling"), f.field_path("autoscaling"));
  pool.signals = signals::parse_signals_config(f.child("signals"), f.field_path("signals"));
  // Without autoscaling `replicas` is the pool's size; with it, where the pool starts
  // (min_replicas by default, so a pool allowed to scale to zero starts empty).
  const int initial = pool.scaling ? pool.scaling->min_replicas : 1;
  pool.initial_replicas = static_cast<int>(f.integer("replicas", static_cast<uint64_t>(initial), 0, 1024));
  if (pool.scaling) {
    if (pool.initial_replicas < pool.scaling->min_replicas || pool.initial_replicas > pool.scaling->max_replicas)
      throw Error(f.field_path("replicas") + ": " + std::to_string(pool.initial_replicas) + " is outside autoscaling's " +
                  std::to_string(pool.scaling->min_replicas) + ".." + std::to_string(pool.scaling->max_replicas));
    if (!pool.device_groups.empty() && pool.scaling->max_replicas > static_cast<int>(pool.device_groups.size()))
      throw Error(f.field_path("autoscaling") + ".max_replicas: " + std::to_string(pool.scaling->max_replicas) +
                  " replicas need as many GPU groups, but `devices` has " + std::to_string(pool.device_groups.size()));
  }
  if (!pool.device_groups.empty() && pool.initial_replicas > static_cast<int>(pool.device_groups.size()))
    throw Error(f.field_path("replicas") + ": more replicas than GPU groups in `devices`");
  f.finish();
  return pool;
}

}  // namespace

ClusterConfig parse_cluster_config(std::string_view yaml, const std::string& source,
                                   const std::filesystem::path& default_run_dir) {
  const YAML::Node root = parse_yaml(yaml, source);
  if (root && !root.IsNull() && !root.IsMap()) throw Error(source + ": expected a mapping at the top level");
  YamlFields f(root, source);
  ClusterConfig config;
  config.run_dir = f.string("run_dir", default_run_dir.string());
  {
    YamlFields status(f.child("status"), f.field_path("status"));
    config.status_host = status.string("host", config.status_host);
    config.status_port = static_cast<uint16_t>(status.integer("port", config.status_port, 0, 65535));
    status.finish();
  }
  config.gateway = f.child("gateway");
  if (!config.gateway || config.gateway.IsNull()) config.gateway = YAML::Node(YAML::NodeType::Map);
  if (!config.gateway.IsMap()) throw Error(f.field_path("gateway") + ": expected a mapping");
  config.gateway = YAML::Clone(config.gateway);
  if (config.gateway["pools"])
    throw Error(f.field_path("gateway") + ".pools: pools are listed under the top-level `pools:` of tide up");
  if (const auto listen = config.gateway["listen"]) {
    YamlFields l(listen, f.field_path("gateway") + ".listen");
    config.gateway_host = l.string("host", config.gateway_host);
    config.gateway_port = static_cast<uint16_t>(l.integer("port", config.gateway_port, 0, 65535));
    l.finish();
    config.gateway.remove("listen");  // passed as --host/--port, which may be 0
  }
  config.discovery_poll = f.duration("discovery_poll", config.discovery_poll, milliseconds(100), milliseconds(60'000));

  const YAML::Node pools = f.child("pools");
  require_sequence(pools, f.field_path("pools"));
  std::set<std::string> names;
  for (std::size_t i = 0; pools && i < pools.size(); ++i) {
    auto pool = parse_pool(pools[i], f.field_path("pools") + "[" + std::to_string(i) + "]");
    if (!names.insert(pool.name).second) throw Error(f.field_path("pools") + ": two pools named " + pool.name);
    config.pools.push_back(std::move(pool));
  }
  if (config.pools.empty()) throw Error(f.field_path("pools") + ": at least one pool is needed");
  f.finish();
  gateway::parse_gateway_config(gateway_config_yaml(config), source + " (the gateway configuration it makes)");
  return config;
}

ClusterConfig load_cluster_config(const std::filesystem::path& path, const std::filesystem::path& default_run_dir) {
  return parse_cluster_config(read_text_file(path), path.string(), default_run_dir);
}

ClusterConfig default_cluster_config(const std::filesystem::path& run_dir) {
  return parse_cluster_config(R"(
pools:
  - name: demo
    model: demo
    replicas: 1
    autoscaling:
      min_replicas: 1
      max_replicas: 3
      policy: reactive
      signal: in_flight
      target: 8
      interval: 5
)", "the built-in demo cluster", run_dir);
}

std::filesystem::path discovery_file(const ClusterConfig& config, const std::string& pool) {
  return config.run_dir / ("replicas-" + pool + ".txt");
}

std::string gateway_config_yaml(const ClusterConfig& config) {
  YAML::Node gateway = YAML::Clone(config.gateway);
  YAML::Node pools(YAML::NodeType::Sequence);
  for (const auto& pool : config.pools) {
    YAML::Node node = pool.gateway && pool.gateway.IsMap() ? YAML::Clone(pool.gateway) : YAML::Node(YAML::NodeType::Map);
    node["name"] = pool.name;
    node["file"] = discovery_file(config, pool.name).string();
    node["file_poll"] = std::to_string(config.discovery_poll.count()) + "ms";
    pools.push_back(node);
  }
  gateway["pools"] = pools;
  YAML::Emitter out;
  out << gateway;
  return std::string("# Generated by tide up from its cluster configuration; edits are overwritten.\n") + out.c_str() + "\n";
}

}  // namespace tide::autoscaler

// SPDX-License-Identifier: Apache-2.0
// src/metrics.cpp — the registry of named pools and its two renderings.
#include "cistern/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "cistern/detail/metrics_registry.hpp"

namespace cistern::detail {
namespace {

struct Source {
  std::string name;
  const char* kind;
  MetricsCollector collect;
};

struct Registry {
  std::mutex mu;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, Source> sources;  // ordered by registration
};
Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: pools may die after statics
  return *r;
}

void append_number(std::string& out, double v) {
  char buf[64];
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  out += buf;
}

// Escapes a Prometheus label value: backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view v) {
  for (char ch : v) {
    if (ch == '\\') out += "\\\\";
    else if (ch == '"') out += "\\\"";
    else if (ch == '\n') out += "\\n";
    else out += ch;
  }
}

void append_json_string(std::string& out, std::string_view v) {
  out += '"';
  for (unsigned char ch : v) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
}

struct Collected {
  std::string name;
  const char* kind;
  std::vector<MetricSample> samples;
};

std::vector<Collected> collect_all() {
  Registry& r = registry();
  std::vector<Collected> all;
  std::lock_guard lock(r.mu);
  all.reserve(r.sources.size());
  for (auto& [id, source] : r.sources) {
    Collected c{source.name, source.kind, {}};
    source.collect(c.samples);
    all.push_back(std::move(c));
  }
  return all;
}

}  // namespace

void unregister_metrics(std::uint64_t id) noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.sources.erase(id);
}

MetricsRegistration register_metrics(const std::string& name, const char* kind,
                                     MetricsCollector collector) {
  if (name.empty()) throw std::invalid_argument("cistern: a metrics name must not be empty");
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (const auto& [id, source] : r.sources) {
    if (source.name == name)
      throw std::invalid_argument("cistern: Options::name '" + name +
                                  "' is already used by a live " + source.kind +
                                  "; pool names must be unique");
  }
  std::uint64_t id = r.next_id++;
  r.sources.emplace(id, Source{name, kind, std::move(collector)});
  return MetricsRegistration(id);
}

}  // namespace cistern::detail

namespace cistern {

std::string metrics_text() {
  using detail::MetricSample;
  std::vector<detail::Collected> all = detail::collect_all();
  // Group samples by family, keeping the order in which families first appear:
  // Prometheus wants every sample of a family together under one HELP/TYPE.
  std::vector<std::string_view> order;
  std::map<std::string_view, std::vector<std::pair<const std::string*, const MetricSample*>>> families;
  for (const auto& c : all) {
    for (const auto& s : c.samples) {
      auto [it, inserted] = families.try_emplace(s.family);
      if (inserted) order.push_back(s.family);
      it->second.emplace_back(&c.name, &s);
    }
  }
  std::string out;
  for (std::string_view family : order) {
    const auto& rows = families[family];
    const MetricSample& first = *rows.front().second;
    out += "# HELP ";
    out += family;
    out += ' ';
    out += first.help;
    out += "\n# TYPE ";
    out += family;
    out += first.counter ? " counter\n" : " gauge\n";
    for (const auto& [name, sample] : rows) {
      out += family;
      out += "{pool=\"";
      detail::append_label_value(out, *name);
      out += "\"} ";
      detail::append_number(out, sample->value);
      out += '\n';
    }
  }
  return out;
}

std::string metrics_json() {
  std::vector<detail::Collected> all = detail::collect_all();
  std::string out = "{\"pools\":[";
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"name\":";
    detail::append_json_string(out, all[i].name);
    out += ",\"kind\":";
    detail::append_json_string(out, all[i].kind);
    out += ",\"metrics\":{";
    for (std::size_t j = 0; j < all[i].samples.size(); ++j) {
      if (j > 0) out += ',';
      detail::append_json_string(out, all[i].samples[j].family);
      out += ':';
      double v = all[i].samples[j].value;
      if (std::isfinite(v)) {
        detail::append_number(out, v);
      } else {
        out += "null";
      }
    }
    out += "}}";
  }
  out += "]}";
  return out;
}

}  // namespace cistern

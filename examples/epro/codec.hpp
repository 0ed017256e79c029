// SPDX-License-Identifier: Apache-2.0
// Parsing and validating a submission (simdjson On Demand), and writing it back
// as compact JSON with exactly the fields that were present.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "submission.hpp"

namespace epro {

struct ParseError {
  std::string error;  // what is wrong
  std::string field;  // the path, e.g. answers[3].itemId; empty for bad JSON
};

// Parses `json` (which must be followed by simdjson::SIMDJSON_PADDING readable
// bytes: `capacity` is the size of the readable area) into `out`. On failure
// returns false and fills `err`; `out` is then unspecified (reset it).
bool parse_submission(simdjson::ondemand::parser& parser, const char* json, std::size_t size, std::size_t capacity,
                      PatientSubmission& out, ParseError& err);

// Appends the compact JSON form of `s` to `out` (any type with append(string_view)
// and push_back(char)).
template <class Out>
void write_submission(const PatientSubmission& s, Out& out);

// Appends `v` as a JSON string literal (quoted, escaped).
template <class Out>
void write_json_string(std::string_view v, Out& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t start = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(v.substr(start, i - start));
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(std::string_view(esc, 6));
      }
    }
    start = i + 1;
  }
  out.append(v.substr(start));
  out.push_back('"');
}

template <class Out>
void write_int(long long v, Out& out) {
  char buf[24];
  int n = 0;
  bool neg = v < 0;
  unsigned long long u = neg ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
  do {
    buf[sizeof buf - 1 - n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (neg) buf[sizeof buf - 1 - n++] = '-';
  out.append(std::string_view(buf + sizeof buf - n, static_cast<std::size_t>(n)));
}

template <class Out>
void write_submission(const PatientSubmission& s, Out& out) {
  auto key = [&](std::string_view k) {
    write_json_string(k, out);
    out.push_back(':');
  };
  auto str_field = [&](std::string_view k, const std::string& v, bool comma = true) {
    key(k);
    write_json_string(v, out);
    if (comma) out.push_back(',');
  };
  out.push_back('{');
  str_field("trialId", s.trial_id);
  str_field("siteId", s.site_id);
  str_field("patientId", s.patient_id);
  key("visit");
  out.push_back('{');
  str_field("id", s.visit_id);
  key("number");
  write_int(s.visit_number, out);
  out.push_back(',');
  str_field("scheduledAt", s.visit_scheduled_at, false);
  out.append("},");
  key("instrument");
  out.push_back('{');
  str_field("id", s.instrument_id);
  str_field("version", s.instrument_version);
  str_field("language", s.instrument_language, false);
  out.append("},");
  key("device");
  out.push_back('{');
  str_field("platform", s.device_platform);
  str_field("osVersion", s.device_os_version);
  str_field("appVersion", s.device_app_version);
  str_field("model", s.device_model, false);
  out.append("},");
  str_field("submittedAt", s.submitted_at);
  str_field("timezone", s.timezone);
  str_field("consentVersion", s.consent_version);
  key("answers");
  out.push_back('[');
  for (std::size_t i = 0; i < s.answer_count; ++i) {
    const Answer& a = s.answers[i];
    if (i > 0) out.push_back(',');
    out.push_back('{');
    str_field("itemId", a.item_id);
    if (a.has_value) {
      key("value");
      write_int(a.value, out);
      out.push_back(',');
    } else {
      str_field("text", a.text);
    }
    str_field("answeredAt", a.answered_at, false);
    out.push_back('}');
  }
  out.push_back(']');
  if (s.has_pain_score) {
    out.push_back(',');
    key("painScore");
    write_int(s.pain_score, out);
  }
  if (s.has_notes) {
    out.push_back(',');
    str_field("notes", s.notes, false);
  }
  if (s.has_flags) {
    out.push_back(',');
    key("flags");
    out.push_back('[');
    for (std::size_t i = 0; i < s.flag_count; ++i) {
      if (i > 0) out.push_back(',');
      write_json_string(s.flags[i], out);
    }
    out.push_back(']');
  }
  out.push_back('}');
}

}  // namespace epro

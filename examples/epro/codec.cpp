// SPDX-License-Identifier: Apache-2.0
// Parsing and validating a submission against the rules of EPRO.md.
#include "codec.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace epro {
namespace {

using simdjson::error_code;
namespace od = simdjson::ondemand;

// Characters (UTF-8 code points) in s.
std::size_t length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool digits(std::string_view s, std::size_t at, std::size_t n, int& v) {
  v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  return true;
}

// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00), a valid date and time.
bool rfc3339_utc(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (s.size() < 20) return false;
  if (!digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' || !digits(s, 8, 2, day) ||
      (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) ||
      s[16] != ':' || !digits(s, 17, 2, second))
    return false;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    std::size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  std::string_view zone = s.substr(i);
  return zone == "Z" || zone == "z" || zone == "+00:00" || zone == "-00:00";
}

bool trial_chars(std::string_view s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}
bool id_chars(std::string_view s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

// A field's path, turned into text only when it is reported: building
// "answers[12].itemId" for every field would allocate on every request.
struct Path {
  Path() = default;
  Path(const char* b) : base(b) {}  // NOLINT: a plain field name is a path
  Path(std::string_view b, long i, std::string_view l = {}) : base(b), index(i), leaf(l) {}
  std::string str() const {
    std::string out(base);
    if (index >= 0) {
      out.push_back('[');
      out.append(std::to_string(index));
      out.push_back(']');
    }
    if (!leaf.empty()) {
      out.push_back('.');
      out.append(leaf.data(), leaf.size());
    }
    return out;
  }
  Path with(std::string_view l) const { return Path(base, index, l); }
  std::string_view base;
  long index = -1;
  std::string_view leaf;
};

class Parser {
 public:
  explicit Parser(ParseError& err) : err_(err) {}

  bool fail(std::string error, const Path& field) {
    if (!failed_) {
      err_.error = std::move(error);
      err_.field = field.str();
      failed_ = true;
    }
    return false;
  }
  bool bad_json() { return fail("invalid JSON", Path()); }
  bool type(error_code e, const char* what, const Path& field) {
    if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_ERROR ||
        e == simdjson::NUMBER_OUT_OF_RANGE)
      return fail(std::string("must be ") + what, field);
    return bad_json();
  }

  enum class Kind { text, trial, id, timestamp };

  // A string field: its length in [min, max] characters, and of its kind.
  bool string(od::value v, std::string& out, std::size_t min, std::size_t max, Kind kind, const Path& field) {
    std::string_view s;
    if (auto e = v.get_string().get(s); e) return type(e, "a string", field);
    switch (kind) {
      case Kind::trial:
        if (s.size() < min || s.size() > max || !trial_chars(s))
          return fail("must be " + std::to_string(min) + " to " + std::to_string(max) +
                          " characters of A-Z, 0-9 and -",
                      field);
        break;
      case Kind::id:
        if (s.size() < min || s.size() > max || !id_chars(s))
          return fail("must be " + std::to_string(min) + " to " + std::to_string(max) +
                          " characters of A-Z, a-z, 0-9 and -",
                      field);
        break;
      case Kind::timestamp:
        if (!rfc3339_utc(s)) return fail("must be an RFC 3339 UTC timestamp", field);
        break;
      case Kind::text: {
        std::size_t n = length(s);
        if (n < min || n > max)
          return fail("must be " + std::to_string(min) + " to " + std::to_string(max) + " characters", field);
      }
    }
    out.assign(s.data(), s.size());
    return true;
  }

  bool integer(od::value v, int& out, long long min, long long max, const Path& field) {
    std::int64_t n;
    if (auto e = v.get_int64().get(n); e) return type(e, "an integer", field);
    if (n < min || n > max)
      return fail("must be between " + std::to_string(min) + " and " + std::to_string(max), field);
    out = static_cast<int>(n);
    return true;
  }

  bool object(od::value v, od::object& out, const Path& field) {
    if (auto e = v.get_object().get(out); e) return type(e, "an object", field);
    return true;
  }
  bool array(od::value v, od::array& out, const Path& field) {
    if (auto e = v.get_array().get(out); e) return type(e, "an array", field);
    return true;
  }

  // Fails naming the first required field (in `fields`, in order) whose bit is
  // not in `seen`.
  bool require(unsigned seen, std::initializer_list<std::pair<unsigned, const char*>> fields) {
    for (auto [bit, name] : fields)
      if (!(seen & bit)) return fail("missing required field", name);
    return true;
  }

  // Checks that a value the service does not use is valid JSON all the same: On
  // Demand skips what it is not asked for, and would let `tru`, `[1,,2]` or `01`
  // through inside an unknown field. Visits every nested value (at most kMaxDepth
  // levels: deeper input is refused as invalid rather than recursed into).
  static constexpr int kMaxDepth = 64;
  bool any(od::value v, int depth = 0) {
    if (depth > kMaxDepth) return fail("invalid JSON: nested deeper than 64 levels", Path());
    od::json_type t;
    if (v.type().get(t)) return bad_json();
    switch (t) {
      case od::json_type::object: {
        od::object obj;
        if (v.get_object().get(obj)) return bad_json();
        for (auto r : obj) {
          od::field field;
          if (std::move(r).get(field)) return bad_json();
          std::string_view key;
          if (field.unescaped_key().get(key)) return bad_json();
          if (!any(field.value(), depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::array: {
        od::array arr;
        if (v.get_array().get(arr)) return bad_json();
        for (auto r : arr) {
          od::value item;
          if (std::move(r).get(item)) return bad_json();
          if (!any(item, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::number: {
        od::number n;
        return v.get_number().get(n) ? bad_json() : true;
      }
      case od::json_type::string: {
        std::string_view str;
        return v.get_string().get(str) ? bad_json() : true;
      }
      case od::json_type::boolean: {
        bool b;
        return v.get_bool().get(b) ? bad_json() : true;
      }
      case od::json_type::null: {
        bool null = false;
        if (v.is_null().get(null) || !null) return bad_json();
        return true;
      }
    }
    return bad_json();
  }

  // Iterates an object's fields: f(key, value) -> bool.
  template <class F>
  bool fields(od::object& obj, F f) {
    for (auto r : obj) {
      od::field field;
      if (std::move(r).get(field)) return bad_json();
      std::string_view key;
      if (field.unescaped_key().get(key)) return bad_json();
      if (!f(key, field.value())) return false;
    }
    return true;
  }

  bool visit(od::value v, PatientSubmission& s) {
    od::object obj;
    if (!object(v, obj, "visit")) return false;
    unsigned seen = 0;
    bool ok = fields(obj, [&](std::string_view k, od::value x) {
      if (k == "id") return seen |= 1, string(x, s.visit_id, 1, 16, Kind::text, "visit.id");
      if (k == "number") return seen |= 2, integer(x, s.visit_number, 0, 999, "visit.number");
      if (k == "scheduledAt") return seen |= 4, string(x, s.visit_scheduled_at, 0, 0, Kind::timestamp, "visit.scheduledAt");
      return any(x);  // unknown: ignored, but it must be valid JSON
    });
    return ok && require(seen, {{1, "visit.id"}, {2, "visit.number"}, {4, "visit.scheduledAt"}});
  }

  bool instrument(od::value v, PatientSubmission& s) {
    od::object obj;
    if (!object(v, obj, "instrument")) return false;
    unsigned seen = 0;
    bool ok = fields(obj, [&](std::string_view k, od::value x) {
      if (k == "id") return seen |= 1, string(x, s.instrument_id, 1, 32, Kind::text, "instrument.id");
      if (k == "version") return seen |= 2, string(x, s.instrument_version, 1, 16, Kind::text, "instrument.version");
      if (k == "language") return seen |= 4, string(x, s.instrument_language, 2, 16, Kind::text, "instrument.language");
      return any(x);
    });
    return ok && require(seen, {{1, "instrument.id"}, {2, "instrument.version"}, {4, "instrument.language"}});
  }

  bool device(od::value v, PatientSubmission& s) {
    od::object obj;
    if (!object(v, obj, "device")) return false;
    unsigned seen = 0;
    bool ok = fields(obj, [&](std::string_view k, od::value x) {
      if (k == "platform") {
        seen |= 1;
        if (!string(x, s.device_platform, 1, 16, Kind::text, "device.platform")) return false;
        if (s.device_platform != "ios" && s.device_platform != "android" && s.device_platform != "web")
          return fail("must be one of ios, android, web", "device.platform");
        return true;
      }
      if (k == "osVersion") return seen |= 2, string(x, s.device_os_version, 0, 32, Kind::text, "device.osVersion");
      if (k == "appVersion") return seen |= 4, string(x, s.device_app_version, 0, 32, Kind::text, "device.appVersion");
      if (k == "model") return seen |= 8, string(x, s.device_model, 0, 32, Kind::text, "device.model");
      return any(x);
    });
    return ok && require(seen, {{1, "device.platform"}, {2, "device.osVersion"}, {4, "device.appVersion"},
                                {8, "device.model"}});
  }

  bool answers(od::value v, PatientSubmission& s) {
    od::array arr;
    if (!array(v, arr, "answers")) return false;
    for (std::size_t i = 0; i < s.answer_count; ++i) s.answers[i].reset();  // a repeated key: last one wins
    s.answer_count = 0;
    std::size_t index = 0;
    for (auto r : arr) {
      od::value item;
      if (std::move(r).get(item)) return bad_json();
      const Path path("answers", static_cast<long>(index));
      if (index == 200) return fail("must have 1 to 200 items", "answers");
      Answer& a = s.next_answer();
      od::object obj;
      if (!object(item, obj, path)) return false;
      unsigned seen = 0;
      bool ok = fields(obj, [&](std::string_view k, od::value x) {
        if (k == "itemId") return seen |= 1, string(x, a.item_id, 1, 32, Kind::text, path.with("itemId"));
        if (k == "value") {
          seen |= 2;
          a.has_value = true;
          return integer(x, a.value, -1000, 1000, path.with("value"));
        }
        if (k == "text") return seen |= 4, string(x, a.text, 0, 2000, Kind::text, path.with("text"));
        if (k == "answeredAt") return seen |= 8, string(x, a.answered_at, 0, 0, Kind::timestamp, path.with("answeredAt"));
        return any(x);
      });
      if (!ok) return false;
      if (!(seen & 1)) return fail("missing required field", path.with("itemId"));
      if (((seen & 2) != 0) == ((seen & 4) != 0)) return fail("must have exactly one of value and text", path);
      if (!(seen & 8)) return fail("missing required field", path.with("answeredAt"));
      for (std::size_t j = 0; j + 1 < s.answer_count; ++j)
        if (s.answers[j].item_id == a.item_id) return fail("duplicate itemId", path.with("itemId"));
      ++index;
    }
    if (index == 0) return fail("must have 1 to 200 items", "answers");
    return true;
  }

  bool flags(od::value v, PatientSubmission& s) {
    od::array arr;
    if (!array(v, arr, "flags")) return false;
    for (std::size_t i = 0; i < s.flag_count; ++i) s.flags[i].clear();
    s.flag_count = 0;
    s.has_flags = true;
    std::size_t index = 0;
    for (auto r : arr) {
      od::value item;
      if (std::move(r).get(item)) return bad_json();
      if (index == 16) return fail("must have at most 16 items", "flags");
      std::string& f = s.next_flag();
      if (!string(item, f, 1, 32, Kind::text, Path("flags", static_cast<long>(index)))) return false;
      ++index;
    }
    return true;
  }

  bool submission(od::document& doc, PatientSubmission& s) {
    od::object obj;
    if (auto e = doc.get_object().get(obj); e) {
      return e == simdjson::INCORRECT_TYPE ? fail("body must be a JSON object", Path()) : bad_json();
    }
    enum : unsigned {
      kTrial = 1, kSite = 2, kPatient = 4, kVisit = 8, kInstrument = 16, kDevice = 32, kSubmitted = 64,
      kTimezone = 128, kConsent = 256, kAnswers = 512
    };
    unsigned seen = 0;
    bool ok = fields(obj, [&](std::string_view k, od::value x) {
      if (k == "trialId") return seen |= kTrial, string(x, s.trial_id, 3, 32, Kind::trial, "trialId");
      if (k == "siteId") return seen |= kSite, string(x, s.site_id, 1, 32, Kind::id, "siteId");
      if (k == "patientId") return seen |= kPatient, string(x, s.patient_id, 1, 32, Kind::id, "patientId");
      if (k == "visit") return seen |= kVisit, visit(x, s);
      if (k == "instrument") return seen |= kInstrument, instrument(x, s);
      if (k == "device") return seen |= kDevice, device(x, s);
      if (k == "submittedAt") return seen |= kSubmitted, string(x, s.submitted_at, 0, 0, Kind::timestamp, "submittedAt");
      if (k == "timezone") return seen |= kTimezone, string(x, s.timezone, 1, 64, Kind::text, "timezone");
      if (k == "consentVersion") return seen |= kConsent, string(x, s.consent_version, 1, 16, Kind::text, "consentVersion");
      if (k == "answers") return seen |= kAnswers, answers(x, s);
      if (k == "painScore") return s.has_pain_score = true, integer(x, s.pain_score, 0, 10, "painScore");
      if (k == "notes") return s.has_notes = true, string(x, s.notes, 0, 2000, Kind::text, "notes");
      if (k == "flags") return flags(x, s);
      return any(x);  // unknown fields are ignored, but must be valid JSON
    });
    return ok && require(seen, {{kTrial, "trialId"}, {kSite, "siteId"}, {kPatient, "patientId"}, {kVisit, "visit"},
                                {kInstrument, "instrument"}, {kDevice, "device"}, {kSubmitted, "submittedAt"},
                                {kTimezone, "timezone"}, {kConsent, "consentVersion"}, {kAnswers, "answers"}});
  }

 private:
  ParseError& err_;
  bool failed_ = false;
};

}  // namespace

bool parse_submission(od::parser& parser, const char* json, std::size_t size, std::size_t capacity,
                      PatientSubmission& out, ParseError& err) {
  Parser p(err);
  od::document doc;
  if (parser.iterate(json, size, capacity).get(doc)) return p.bad_json();
  if (!p.submission(doc, out)) return false;
  // Nothing but whitespace may follow the object (a second object, a stray `}`).
  // current_location() fails with OUT_OF_BOUNDS exactly when the whole input was consumed.
  const char* rest = nullptr;
  if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return p.bad_json();
  return true;
}

}  // namespace epro

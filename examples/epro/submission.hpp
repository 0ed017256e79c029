// SPDX-License-Identifier: Apache-2.0
// The parsed form of one ePRO submission (see shared EPRO.md), built to be pooled:
// reset() clears every field so that no patient's data survives into the next
// request, and keeps the capacity of every string and vector so that a warm
// object parses the next submission without allocating.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace epro {

struct Answer {
  std::string item_id;
  bool has_value = false;
  int value = 0;
  std::string text;  // used when !has_value
  std::string answered_at;

  void reset() {
    item_id.clear();
    has_value = false;
    value = 0;
    text.clear();
    answered_at.clear();
  }
};

struct PatientSubmission {
  std::string trial_id, site_id, patient_id;
  std::string visit_id;
  int visit_number = 0;
  std::string visit_scheduled_at;
  std::string instrument_id, instrument_version, instrument_language;
  std::string device_platform, device_os_version, device_app_version, device_model;
  std::string submitted_at, timezone, consent_version;
  // answers[0 .. answer_count) are this submission's; the rest are spare objects
  // kept (empty) for their capacity.
  std::vector<Answer> answers;
  std::size_t answer_count = 0;
  bool has_pain_score = false;
  int pain_score = 0;
  bool has_notes = false;
  std::string notes;
  bool has_flags = false;
  std::vector<std::string> flags;  // flags[0 .. flag_count)
  std::size_t flag_count = 0;

  Answer& next_answer() {
    if (answer_count == answers.size()) answers.emplace_back();
    return answers[answer_count++];
  }
  std::string& next_flag() {
    if (flag_count == flags.size()) flags.emplace_back();
    return flags[flag_count++];
  }

  // Every field back to its default. A new field needs a line here (the privacy
  // test fills every field and checks that the next user sees none of it).
  void reset() {
    for (std::string* s : {&trial_id, &site_id, &patient_id, &visit_id, &visit_scheduled_at, &instrument_id,
                           &instrument_version, &instrument_language, &device_platform, &device_os_version,
                           &device_app_version, &device_model, &submitted_at, &timezone, &consent_version, &notes})
      s->clear();
    visit_number = 0;
    for (std::size_t i = 0; i < answer_count; ++i) answers[i].reset();
    answer_count = 0;
    has_pain_score = false;
    pain_score = 0;
    has_notes = false;
    for (std::size_t i = 0; i < flag_count; ++i) flags[i].clear();
    flag_count = 0;
    has_flags = false;
  }
};

}  // namespace epro

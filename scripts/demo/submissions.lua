-- SPDX-License-Identifier: Apache-2.0
-- wrk script: POSTs realistic, varied ePRO submissions from many patients.
-- Bodies are generated once per wrk thread (so Lua does not compete with the
-- server for the CPU during the run) and cycled through; each has its own
-- patient, visit, device, 5-40 answers (numeric and free text), and optional
-- painScore, notes and flags.

local bodies = {}
local trials = {"ONC-2024-01", "CARD-7", "NEURO-22", "RESP-003", "DERM-15"}
local platforms = {"ios", "android", "web"}
local models = {"iPhone14,2", "Pixel 8", "SM-S911B", "Chrome 131", "iPhone15,3"}
local langs = {"en-GB", "de-DE", "fr-FR", "es-ES", "nl-NL"}
local words = {"tired", "nausea", "better", "worse", "slept", "pain", "walked", "appetite", "dizzy", "ok",
               "after", "the", "infusion", "morning", "evening", "mild", "severe", "headache"}

local function pick(t) return t[math.random(#t)] end

local function ts(day, sec)
  return string.format("2026-11-%02dT%02d:%02d:%02dZ", day, math.floor(sec / 3600) % 24, math.floor(sec / 60) % 60, sec % 60)
end

local function sentence(n)
  local out = {}
  for i = 1, n do out[i] = pick(words) end
  return table.concat(out, " ")
end

local function body(n)
  local answers = {}
  local count = math.random(5, 40)
  for i = 1, count do
    local a
    if math.random() < 0.8 then
      a = string.format('{"itemId":"Q%d","value":%d,"answeredAt":"%s"}', i, math.random(-5, 100), ts(22, 30000 + i * 7))
    else
      a = string.format('{"itemId":"Q%d","text":"%s","answeredAt":"%s"}', i, sentence(math.random(3, 30)), ts(22, 30000 + i * 7))
    end
    answers[i] = a
  end
  local optional = ""
  if math.random() < 0.7 then optional = optional .. string.format(',"painScore":%d', math.random(0, 10)) end
  if math.random() < 0.3 then optional = optional .. string.format(',"notes":"%s"', sentence(math.random(5, 60))) end
  if math.random() < 0.2 then optional = optional .. ',"flags":["late","reminder-sent"]' end
  return string.format(
    '{"trialId":"%s","siteId":"site-%d","patientId":"P-%06d","visit":{"id":"W%d","number":%d,"scheduledAt":"%s"},' ..
    '"instrument":{"id":"EQ-5D-5L","version":"2.1","language":"%s"},' ..
    '"device":{"platform":"%s","osVersion":"17.%d","appVersion":"3.2.%d","model":"%s"},' ..
    '"submittedAt":"%s","timezone":"Europe/London","consentVersion":"v3","answers":[%s]%s}',
    pick(trials), math.random(1, 40), math.random(1, 20000), n % 12, n % 12, ts(20, 32400),
    pick(langs), pick(platforms), math.random(0, 6), math.random(0, 9), pick(models),
    ts(22, 29000 + n), table.concat(answers, ","), optional)
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(1000 + (seed or 0))
  for n = 1, 400 do bodies[n] = body(n) end
end

local i = 0
local headers = {["Content-Type"] = "application/json"}
function request()
  i = i + 1
  return wrk.format("POST", "/v1/submissions", headers, bodies[(i % #bodies) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end

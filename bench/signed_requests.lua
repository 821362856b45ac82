-- wrk script: replays pre-signed webhook deliveries, one line each: timestamp TAB signature TAB body.
-- Every delivery carries its own event id, so the engine's dedupe never short-circuits. At the end
-- it prints how many requests were sent and how many were answered 2xx, for the job-count check.
local deliveries = {}
local next_index = 1
local threads = {}
sent = 0
ok = 0

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  for line in io.lines(args[1]) do
    local stamp, signature, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    deliveries[#deliveries + 1] = wrk.format("POST", args[2], {
      ["Content-Type"] = "application/json",
      ["X-WHOOP-Signature-Timestamp"] = stamp,
      ["X-WHOOP-Signature"] = signature,
    }, body)
  end
end

function request()
  local request = deliveries[next_index]
  next_index = next_index % #deliveries + 1
  sent = sent + 1
  return request
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  end
end

function done(summary, latency, requests)
  local total_sent, total_ok = 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_ok = total_ok + thread:get("ok")
  end
  io.write(string.format("deliveries sent: %d, answered 2xx: %d\n", total_sent, total_ok))
end

-- wrk script: POST one fixed, valid "signup" event to /validate.php.
-- The body passes every rule of ops/demo/app/rules.json, so each answer is
-- 200 {"ok":true,...}; anything else shows up as "Non-2xx" in wrk's output.
-- bench.py reads the body from the wrk.body line below for its pre-flight check.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"signup","user_id":4711,"email":"  Ada.Lovelace@Example.org ","age":36,"country":"gb","referral_code":"abc123xyz","marketing_opt_in":true}'

<?php
/**
 * Event validator: POST a JSON event, get it back validated and normalized.
 *
 * This is the endpoint the strangler demo migrates to Python, so every detail
 * of the answer is specified here for a byte-for-byte port:
 *
 *  1. Method: anything but POST -> 405, header "Allow: POST".
 *  2. Rules: ../rules.json is read and decoded on EVERY request (no cache);
 *     if it cannot be read -> 500.  Its order is significant (see 6, 7).
 *  3. Body: decoded with json_decode(depth 32), objects kept as objects so
 *     {} and [] differ.  Not JSON, invalid UTF-8, a lone UTF-16 surrogate
 *     escape (\ud800), or more than 31 nested arrays/objects -> 400 rule
 *     "json".  Valid JSON that is not an object -> 400 rule "object".
 *     Duplicate keys: the last value wins, the first position stays.
 *     Integers beyond 64 bits decode as floats (so they fail type "integer").
 *  4. "type" must be present (non-null), a string, and a key of
 *     rules.events; otherwise 422 with that single error.
 *  5. Each field rule of the event, in rules.json order, runs its checks in
 *     this fixed order and stops at the first failure (one error per field):
 *       missing or null -> "required" if required, else the "default" (if
 *       any) goes to normalized; then "type" (string: is_string; integer:
 *       is_int; number: int or float; boolean: is_bool -- a bool is never a
 *       number); for strings, "trim" (PHP trim: " \t\n\r\0\x0B") then "case"
 *       (lower/upper, ASCII letters only) are applied first; then
 *       "min_length", "max_length" (counted in Unicode code points),
 *       "pattern" (whole-string match: ~\A(?:P)\z~u; patterns use explicit
 *       ASCII classes so PCRE and Python's re agree), "enum", "min", "max".
 *  6. Then every body key that is neither "type" nor a field of the event
 *     gives rule "unknown", in body order.
 *  7. Errors -> 422 {"ok":false,"errors":[{"field","rule","message"}...]}.
 *     Valid -> 200 {"ok":true,"id","type","normalized"}; normalized holds the
 *     event's fields in rules.json order (checked value or default).
 *     id = "evt_" + the first 20 hex digits of sha1(raw body).
 *  8. Numbers inside messages are written with json_encode (0.01, 100000).
 *
 * The rules (points 2, 4 to 8) live in ../lib/validate_rules.php, shared with
 * validate_batch.php, which applies them to each event of a batch.
 *
 * Output: json_encode with JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE |
 * JSON_UNESCAPED_LINE_TERMINATORS | JSON_PRESERVE_ZERO_FRACTION, no trailing
 * newline, "Content-Type: application/json".  In Python that is
 * json.dumps(value, ensure_ascii=False, separators=(",", ":")): "/" and
 * U+2028/U+2029 stay raw, 10.0 stays "10.0", control characters become
 * \n, \t, ... or \u00XX (lower-case hex).
 */

declare(strict_types=1);

require __DIR__ . '/../lib/validate_rules.php';

function main(): void
{
    $request = read_request();
    if ($request === null) {
        return;
    }
    [$rules, $raw, $body] = $request;
    [$errors, $normalized] = check_event($body, $rules['events']);
    if ($errors !== []) {
        fail(422, $errors);
        return;
    }
    respond(200, [
        'ok' => true,
        'id' => 'evt_' . substr(sha1($raw), 0, 20),
        'type' => $body['type'],
        'normalized' => (object) $normalized,
    ]);
}

main();

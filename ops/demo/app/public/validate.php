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
 * Output: json_encode with JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE |
 * JSON_UNESCAPED_LINE_TERMINATORS | JSON_PRESERVE_ZERO_FRACTION, no trailing
 * newline, "Content-Type: application/json".  In Python that is
 * json.dumps(value, ensure_ascii=False, separators=(",", ":")): "/" and
 * U+2028/U+2029 stay raw, 10.0 stays "10.0", control characters become
 * \n, \t, ... or \u00XX (lower-case hex).
 */

declare(strict_types=1);

const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
    | JSON_UNESCAPED_LINE_TERMINATORS | JSON_PRESERVE_ZERO_FRACTION;
const RULES_FILE = __DIR__ . '/../rules.json';
const MAX_DEPTH = 32;

function respond(int $status, array $payload, array $headers = []): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    foreach ($headers as $header) {
        header($header);
    }
    echo json_encode($payload, JSON_FLAGS);
}

function error(string $field, string $rule, string $message): array
{
    return ['field' => $field, 'rule' => $rule, 'message' => $message];
}

function fail(int $status, array $errors, array $headers = []): void
{
    respond($status, ['ok' => false, 'errors' => $errors], $headers);
}

function load_rules(): ?array
{
    $text = @file_get_contents(RULES_FILE);
    if ($text === false) {
        return null;
    }
    $rules = json_decode($text, true, 64);
    return is_array($rules) ? $rules : null;
}

function number_text(int|float $number): string
{
    return json_encode($number, JSON_FLAGS);
}

function char_length(string $value): int
{
    return (int) preg_match_all('/./su', $value);
}

function type_ok(mixed $value, string $type): bool
{
    return match ($type) {
        'string' => is_string($value),
        'integer' => is_int($value),
        'number' => is_int($value) || is_float($value),
        'boolean' => is_bool($value),
        default => false,
    };
}

function prepare_string(string $value, array $rule): string
{
    if (!empty($rule['trim'])) {
        $value = trim($value);
    }
    $case = $rule['case'] ?? null;
    if ($case === 'lower') {
        $value = strtolower($value);  // ASCII only since PHP 8.2
    } elseif ($case === 'upper') {
        $value = strtoupper($value);
    }
    return $value;
}

/** The first failing check of one present value as [rule, message], or null. */
function first_failure(mixed $value, array $rule): ?array
{
    if (isset($rule['min_length']) && char_length($value) < $rule['min_length']) {
        return ['min_length', "must be at least {$rule['min_length']} characters"];
    }
    if (isset($rule['max_length']) && char_length($value) > $rule['max_length']) {
        return ['max_length', "must be at most {$rule['max_length']} characters"];
    }
    if (isset($rule['pattern']) && preg_match('~\A(?:' . $rule['pattern'] . ')\z~u', $value) !== 1) {
        return ['pattern', "must match the pattern {$rule['pattern']}"];
    }
    if (isset($rule['enum']) && !in_array($value, $rule['enum'], true)) {
        return ['enum', 'must be one of: ' . implode(', ', $rule['enum'])];
    }
    if (isset($rule['min']) && $value < $rule['min']) {
        return ['min', 'must be >= ' . number_text($rule['min'])];
    }
    if (isset($rule['max']) && $value > $rule['max']) {
        return ['max', 'must be <= ' . number_text($rule['max'])];
    }
    return null;
}

/**
 * Validate the fields of one event.
 *
 * @return array{0: array, 1: array} [errors, normalized]
 */
function validate_fields(array $body, string $type, array $fieldRules): array
{
    $errors = [];
    $normalized = [];
    foreach ($fieldRules as $name => $rule) {
        $value = $body[$name] ?? null;
        if ($value === null) {
            if (!empty($rule['required'])) {
                $errors[] = error($name, 'required', 'is required');
            } elseif (array_key_exists('default', $rule)) {
                $normalized[$name] = $rule['default'];
            }
            continue;
        }
        if (!type_ok($value, $rule['type'])) {
            $errors[] = error($name, 'type', "must be of type {$rule['type']}");
            continue;
        }
        if (is_string($value)) {
            $value = prepare_string($value, $rule);
        }
        $failure = first_failure($value, $rule);
        if ($failure !== null) {
            $errors[] = error($name, $failure[0], $failure[1]);
            continue;
        }
        $normalized[$name] = $value;
    }
    foreach (array_keys($body) as $name) {
        $name = (string) $name;  // numeric keys such as "7" become ints in PHP arrays
        if ($name !== 'type' && !array_key_exists($name, $fieldRules)) {
            $errors[] = error($name, 'unknown', "is not allowed for event type $type");
        }
    }
    return [$errors, $normalized];
}

/** The error of the "type" key, or null when it names a known event. */
function type_error(array $body, array $events): ?array
{
    $type = $body['type'] ?? null;
    if ($type === null) {
        return error('type', 'required', 'is required');
    }
    if (!is_string($type)) {
        return error('type', 'type', 'must be of type string');
    }
    if (!array_key_exists($type, $events)) {
        return error('type', 'enum', 'must be one of: ' . implode(', ', array_keys($events)));
    }
    return null;
}

function main(): void
{
    if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
        fail(405, [error('', 'method', 'only POST is allowed')], ['Allow: POST']);
        return;
    }
    $rules = load_rules();
    if ($rules === null) {
        fail(500, [error('', 'rules', 'the rules file cannot be read')]);
        return;
    }
    $raw = (string) file_get_contents('php://input');
    $decoded = json_decode($raw, false, MAX_DEPTH);
    if (json_last_error() !== JSON_ERROR_NONE) {
        fail(400, [error('', 'json', 'body is not valid JSON')]);
        return;
    }
    if (!$decoded instanceof stdClass) {
        fail(400, [error('', 'object', 'body must be a JSON object')]);
        return;
    }
    $body = get_object_vars($decoded);
    $typeError = type_error($body, $rules['events']);
    if ($typeError !== null) {
        fail(422, [$typeError]);
        return;
    }
    $type = $body['type'];
    [$errors, $normalized] = validate_fields($body, $type, $rules['events'][$type]);
    if ($errors !== []) {
        fail(422, $errors);
        return;
    }
    respond(200, [
        'ok' => true,
        'id' => 'evt_' . substr(sha1($raw), 0, 20),
        'type' => $type,
        'normalized' => (object) $normalized,
    ]);
}

main();

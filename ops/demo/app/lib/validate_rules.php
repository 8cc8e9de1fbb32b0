<?php
/**
 * The per-event rules of the event validator, shared by validate.php (one
 * event per request) and validate_batch.php (a batch of events).
 *
 * validate.php's header comment specifies every byte these functions decide
 * (points 2 and 4 to 8); this file is outside public/, so it is never served.
 * Including it defines functions and constants only: nothing is printed.
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

/**
 * The request both validators start with: POST only (405), the rules (500),
 * the raw body and its JSON object (400).  On a refusal it has answered and
 * returns null; otherwise [rules, raw body, body members].
 */
function read_request(): ?array
{
    if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
        fail(405, [error('', 'method', 'only POST is allowed')], ['Allow: POST']);
        return null;
    }
    $rules = load_rules();
    if ($rules === null) {
        fail(500, [error('', 'rules', 'the rules file cannot be read')]);
        return null;
    }
    $raw = (string) file_get_contents('php://input');
    $decoded = json_decode($raw, false, MAX_DEPTH);
    if (json_last_error() !== JSON_ERROR_NONE) {
        fail(400, [error('', 'json', 'body is not valid JSON')]);
        return null;
    }
    if (!$decoded instanceof stdClass) {
        fail(400, [error('', 'object', 'body must be a JSON object')]);
        return null;
    }
    return [$rules, $raw, get_object_vars($decoded)];
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

/**
 * The errors and normalized fields of one decoded event object.
 *
 * A bad "type" gives that single error; otherwise validate_fields' result.
 *
 * @return array{0: array, 1: array} [errors, normalized]
 */
function check_event(array $body, array $events): array
{
    $typeError = type_error($body, $events);
    if ($typeError !== null) {
        return [[$typeError], []];
    }
    return validate_fields($body, $body['type'], $events[$body['type']]);
}

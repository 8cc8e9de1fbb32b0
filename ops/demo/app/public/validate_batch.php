<?php
/**
 * Batch event validator: POST a JSON batch of events, get each one back
 * validated and normalized, in order.
 *
 * Each event is judged by validate.php's rules (../lib/validate_rules.php,
 * shared with it).  The strangler demo migrates this endpoint to Python as
 * well, so every byte of the answer is specified here for a byte-for-byte
 * port (validate.php's header comment specifies the per-event rules):
 *
 *  1. Method: anything but POST -> 405, header "Allow: POST", validate.php's
 *     405 body.
 *  2. Rules: as in validate.php, read on every request; unreadable -> 500
 *     with validate.php's 500 body.
 *  3. Body: decoded as validate.php decodes it, json_decode depth 32 for the
 *     whole body (the batch object and its list take two of the 31 levels an
 *     event had alone).  Not JSON -> 400 rule "json"; valid JSON that is not
 *     an object -> 400 rule "object" (validate.php's two 400 bodies).
 *     Duplicate keys: the last value wins, the first position stays.
 *  4. The batch object: its "events" member must be present and non-null
 *     (else field "events" rule "required" "is required"), a JSON array (else
 *     rule "type" "must be of type array"; an object is not a list), of at
 *     least 1 (rule "min_items" "must hold at least 1 event") and at most
 *     MAX_EVENTS = 100 items (rule "max_items" "must hold at most 100
 *     events"): one error at most, checked in that order.  Then every other
 *     key of the object gives rule "unknown" "is not allowed in a batch", in
 *     body order.  Any such error -> 422 {"ok":false,"errors":[...]} (error
 *     objects as validate.php's) and no event is looked at.
 *  5. Each event, in list order, index i from 0: an event that is not a JSON
 *     object is rejected with the single error {"field":"","rule":"object",
 *     "message":"event must be a JSON object"}; an object is judged exactly
 *     as validate.php judges a body (its points 4 to 6: "type", the fields,
 *     then the unknown keys).
 *  6. Answer: 200, even when every event was rejected:
 *     {"ok":true,"accepted":A,"rejected":R,"results":[...]}, results[i] for
 *     events[i]: an accepted event is validate.php's 200 body
 *     {"ok":true,"id","type","normalized"} with
 *     id = "evt_" + the first 20 hex digits of sha1(raw body . "#" . i)
 *     (i in decimal), so the ids of one batch differ and a resent batch gets
 *     the same ones; a rejected event is validate.php's 422 body
 *     {"ok":false,"errors":[...]}.
 *  7. Output: validate.php's json_encode flags, no trailing newline,
 *     "Content-Type: application/json".  If the encoding fails (a float INF
 *     among the normalized values: no rule of today's rules.json lets one
 *     through), json_encode returns false and the body is empty, status 200.
 */

declare(strict_types=1);

require __DIR__ . '/../lib/validate_rules.php';

const MAX_EVENTS = 100;

/** The error of the "events" member, or null when it is a list of 1 to MAX_EVENTS. */
function events_error(mixed $events): ?array
{
    if ($events === null) {
        return error('events', 'required', 'is required');
    }
    if (!is_array($events)) {
        return error('events', 'type', 'must be of type array');
    }
    if (count($events) < 1) {
        return error('events', 'min_items', 'must hold at least 1 event');
    }
    if (count($events) > MAX_EVENTS) {
        return error('events', 'max_items', 'must hold at most ' . MAX_EVENTS . ' events');
    }
    return null;
}

/** The errors of the batch object itself (point 4), in order. */
function batch_errors(array $body): array
{
    $errors = [];
    $eventsError = events_error($body['events'] ?? null);
    if ($eventsError !== null) {
        $errors[] = $eventsError;
    }
    foreach (array_keys($body) as $name) {
        $name = (string) $name;  // numeric keys such as "7" become ints in PHP arrays
        if ($name !== 'events') {
            $errors[] = error($name, 'unknown', 'is not allowed in a batch');
        }
    }
    return $errors;
}

/** The result of events[$index] (point 5), and whether it was accepted. */
function event_result(mixed $event, int $index, string $raw, array $events): array
{
    if (!$event instanceof stdClass) {
        return [['ok' => false, 'errors' => [error('', 'object', 'event must be a JSON object')]], false];
    }
    $body = get_object_vars($event);
    [$errors, $normalized] = check_event($body, $events);
    if ($errors !== []) {
        return [['ok' => false, 'errors' => $errors], false];
    }
    $result = [
        'ok' => true,
        'id' => 'evt_' . substr(sha1($raw . '#' . $index), 0, 20),
        'type' => $body['type'],
        'normalized' => (object) $normalized,
    ];
    return [$result, true];
}

function main(): void
{
    $request = read_request();
    if ($request === null) {
        return;
    }
    [$rules, $raw, $body] = $request;
    $errors = batch_errors($body);
    if ($errors !== []) {
        fail(422, $errors);
        return;
    }
    $results = [];
    $accepted = 0;
    foreach ($body['events'] as $index => $event) {
        [$result, $ok] = event_result($event, $index, $raw, $rules['events']);
        $results[] = $result;
        $accepted += $ok ? 1 : 0;
    }
    respond(200, [
        'ok' => true,
        'accepted' => $accepted,
        'rejected' => count($results) - $accepted,
        'results' => $results,
    ]);
}

main();

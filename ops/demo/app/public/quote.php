<?php
/**
 * A price quote: deterministic fields plus a timestamp and a random quote id,
 * the kind of fields shadow mode must learn as noise rather than report.
 */
declare(strict_types=1);

$sku = (string) ($_GET['sku'] ?? 'A-1');
$qty = max(1, (int) ($_GET['qty'] ?? 1));
$unit = round(9.5 + (crc32($sku) % 1000) / 100, 2);
header('Content-Type: application/json');
echo json_encode([
    'sku' => $sku,
    'qty' => $qty,
    'unit_price' => $unit,
    'total' => round($unit * $qty, 2),
    'quote_id' => bin2hex(random_bytes(8)),
    'quoted_at' => gmdate('Y-m-d\TH:i:s\Z') . sprintf('%06d', random_int(0, 999999)),
], JSON_UNESCAPED_SLASHES), "\n";

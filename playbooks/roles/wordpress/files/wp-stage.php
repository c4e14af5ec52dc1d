<?php
// govhost (cms): a copied WordPress database made the site's own, run as the site's user once its
// database came from another site (a staging copy made from live, or a staging copy pushed to
// live): `php wp-stage.php rewrite` puts the site's own URL where the other's was (serialized
// values unserialized, changed and serialized again, as a search-replace must) and sets
// blog_public; `php wp-stage.php info` prints the site's blog_public and version. Input from the
// environment (GOVHOST_WP_CONFIG, _HOST, _URL, _FROM_URL, _PUBLIC); prints one JSON line.
$env = function ($k) { return (string) getenv($k); };
$_SERVER['WORDPRESS_CONFIG'] = $env('GOVHOST_WP_CONFIG');
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = $env('GOVHOST_WP_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
if (strpos($env('GOVHOST_WP_URL'), 'https://') === 0) {
    $_SERVER['HTTPS'] = 'on';
}
$mode = $argv[1] ?? '';
$url = '#^https?://[a-z0-9.-]+$#';
if (!in_array($mode, ['info', 'rewrite'], true) || !preg_match($url, $env('GOVHOST_WP_URL'))
    || ($mode === 'rewrite' && (!preg_match($url, $env('GOVHOST_WP_FROM_URL'))
                                || !in_array($env('GOVHOST_WP_PUBLIC'), ['0', '1'], true)))) {
    fwrite(STDERR, "usage: GOVHOST_WP_CONFIG=.. GOVHOST_WP_URL=.. [GOVHOST_WP_FROM_URL=.. GOVHOST_WP_PUBLIC=0|1] php wp-stage.php info|rewrite\n");
    exit(2);
}

// "//old.name" -> "//new.name": every URL of the other site, http or https, absolute or not.
function govhost_replace($value, string $from, string $to, int &$n)
{
    if (is_string($value)) {
        $count = 0;
        $value = str_replace($from, $to, $value, $count);
        $n += $count;
    } elseif (is_array($value)) {
        foreach ($value as $k => $v) {
            $value[$k] = govhost_replace($v, $from, $to, $n);
        }
    } elseif (is_object($value) && !($value instanceof __PHP_Incomplete_Class)) {
        foreach (get_object_vars($value) as $k => $v) {
            $value->$k = govhost_replace($v, $from, $to, $n);
        }
    }
    return $value;
}

try {
    require '/usr/share/wordpress/wp-load.php';
    if ($mode === 'info') {
        echo json_encode(['public' => (string) get_option('blog_public', '1'), 'version' => $GLOBALS['wp_version']]), "\n";
        exit(0);
    }
    global $wpdb;
    $from = preg_replace('#^https?:#', '', $env('GOVHOST_WP_FROM_URL'));
    $to = preg_replace('#^https?:#', '', $env('GOVHOST_WP_URL'));
    $columns = [
        [$wpdb->posts, 'ID', ['post_content', 'post_excerpt', 'guid']],
        [$wpdb->postmeta, 'meta_id', ['meta_value']],
        [$wpdb->options, 'option_id', ['option_value']],
        [$wpdb->comments, 'comment_ID', ['comment_content', 'comment_author_url']],
        [$wpdb->termmeta, 'meta_id', ['meta_value']],
        [$wpdb->usermeta, 'umeta_id', ['meta_value']],
    ];
    $n = 0;
    foreach ($columns as [$table, $key, $cols]) {
        foreach ($cols as $col) {
            $rows = $wpdb->get_results($wpdb->prepare(
                "SELECT `$key` AS k, `$col` AS v FROM `$table` WHERE `$col` LIKE %s",
                '%' . $wpdb->esc_like($from) . '%'
            ));
            foreach ($rows as $row) {
                $before = $n;
                $data = maybe_unserialize($row->v);
                $data = govhost_replace($data, $from, $to, $n);
                if ($n !== $before) {
                    $wpdb->update($table, [$col => maybe_serialize($data)], [$key => $row->k]);
                }
            }
        }
    }
    update_option('blog_public', $env('GOVHOST_WP_PUBLIC'));
    wp_cache_flush();
    echo json_encode(['version' => $GLOBALS['wp_version'], 'replaced' => $n]), "\n";
} catch (Throwable $e) {
    echo json_encode(['error' => get_class($e) . ': ' . $e->getMessage()]), "\n";
    exit(1);
}

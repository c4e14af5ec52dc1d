<?php
// govhost (cms): run one site's WP-cron from the system's cron (DISABLE_WP_CRON is set), as its user.
$_SERVER['WORDPRESS_CONFIG'] = (string) getenv('GOVHOST_WP_CONFIG');
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = (string) getenv('GOVHOST_WP_HOST');
$_SERVER['REQUEST_URI'] = '/wp-cron.php';
$_SERVER['REQUEST_METHOD'] = 'GET';
chdir('/usr/share/wordpress');
require '/usr/share/wordpress/wp-cron.php';

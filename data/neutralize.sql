-- A duplicated database (test copy, staging) must hold no usable KSeF secret
-- and must never talk to production KSeF: wipe secrets, force the test environment.
UPDATE ksef_certificate
   SET private_key_encrypted = NULL;
UPDATE ksef_token
   SET token_encrypted = NULL;
UPDATE ksef_session
   SET key_material = NULL;
UPDATE res_company
   SET l10n_pl_ksef_environment = 'test',
       l10n_pl_ksef_access_token = NULL,
       l10n_pl_ksef_access_token_valid_until = NULL,
       l10n_pl_ksef_refresh_token = NULL,
       l10n_pl_ksef_refresh_token_valid_until = NULL,
       l10n_pl_ksef_token_env_key = NULL;
-- Credential wizard rows (uploaded files, passwords) are never needed in a copy.
DELETE FROM ksef_certificate_upload;
DELETE FROM ksef_certificate_generate;
DELETE FROM ksef_certificate_request;
DELETE FROM ksef_token_generate;
DELETE FROM ksef_certificate_switch;
-- With every secret gone, the copy may run under another encryption key.
DELETE FROM ir_config_parameter
 WHERE key = 'l10n_pl_ksef.encryption_key_check';

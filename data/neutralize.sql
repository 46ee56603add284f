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

-- Whether a load has late samples (at or before their series' latest stored sample).
SELECT coalesce(bool_or(late), false) FROM prom_new;

//! Flattened metadata for the dotenv and INI stores (`age__list_0__map_enc`).

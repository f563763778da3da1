//! The OpenAPI 3.1 description of the admin API, served at `/api/openapi.json`.

use serde_json::{Value, json};

fn organizer_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "email_override": {"type": ["string", "null"]},
            "conference_id": {"type": "string", "pattern": "^[0-9]{1,16}$"},
            "enabled": {"type": "boolean"},
            "has_pin": {"type": "boolean"},
            "pin": {"type": ["string", "null"], "description": "Always `*****` when a PIN is set: the PIN itself is only in the response of the action that generated it."},
            "pin_length": {"type": ["integer", "null"]},
            "pin_set_at": {"type": ["integer", "null"], "description": "unix seconds"},
            "start_without_pin": {"type": "boolean"},
            "created_at": {"type": "integer"},
            "updated_at": {"type": "integer"}
        },
        "required": ["id", "name", "email", "conference_id", "enabled", "has_pin", "start_without_pin"]
    })
}

fn meeting_schema() -> Value {
    json!({
        "type": "object",
        "description": "A running meeting, or a lobby waiting for its organizer. Never carries a PIN or a key.",
        "properties": {
            "conference_id": {"type": "string"},
            "organizer_id": {"type": ["integer", "null"]},
            "state": {"type": "string", "enum": ["lobby", "running", "ended"], "description": "`ended` only in the answer to the control that ended it"},
            "locked": {"type": "boolean"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "participants": {"type": "array", "items": {"$ref": "#/components/schemas/Participant"}, "description": "Participants in joining order, then the lobby, longest waiting first"}
        },
        "required": ["conference_id", "organizer_id", "state", "locked", "started_at", "participants"]
    })
}

fn participant_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "Stable for the call; the {id} of the participant controls"},
            "role": {"type": "string", "enum": ["organizer", "attendee"]},
            "state": {"type": "string", "enum": ["lobby", "meeting"]},
            "from": {"type": "string", "description": "The From URI of the caller's INVITE, as received"},
            "codec": {"type": "string", "enum": ["PCMU", "PCMA", "G722"]},
            "muted": {"type": "boolean"},
            "talking": {"type": "boolean"},
            "hand_raised": {"type": "boolean"},
            "joined_at": {"type": "string", "format": "date-time"}
        },
        "required": ["id", "role", "state", "from", "codec", "muted", "talking", "hand_raised", "joined_at"]
    })
}

fn events_path() -> Value {
    json!({"get": {
        "summary": "Meeting events as server-sent events: one `data:` line per event, the JSON the webhooks get (an Event); a comment every 15 s keeps it open; a reader that falls 256 events behind is cut off and reconnects",
        "responses": {
            "200": {"description": "An endless event stream", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}}},
            "401": {"$ref": "#/components/responses/Unauthorized"}
        }
    }})
}

fn event_schema() -> Value {
    json!({
        "type": "object",
        "description": "One meeting event, as POSTed to each --webhook-url (signed: X-Dialbridge-Signature: sha256=<hex HMAC-SHA256 of the body>) and streamed on /api/events. Never carries a PIN or a key.",
        "properties": {
            "id": {"type": "string", "description": "128 random bits in hex; a webhook receiver may see one twice (at-least-once)"},
            "type": {"type": "string", "enum": ["meeting.started", "meeting.ended", "participant.joined", "participant.admitted", "participant.left", "participant.muted", "participant.unmuted", "lobby.waiting", "organizer.pin_locked"]},
            "time": {"type": "string", "format": "date-time"},
            "conference_id": {"type": "string"},
            "organizer_id": {"type": "integer"},
            "participant": {"$ref": "#/components/schemas/Participant", "description": "Who it is about (as they were, for participant.left)"},
            "by": {"type": "string", "enum": ["organizer", "operator", "auto"], "description": "Who did it, when not the caller themselves"},
            "waiting": {"type": "integer", "description": "lobby.waiting: how many wait"},
            "locked_until": {"type": "string", "format": "date-time", "description": "organizer.pin_locked: until when (absent: until an administrator resets the PIN)"}
        },
        "required": ["id", "type", "time", "conference_id"]
    })
}

fn conference_param() -> Value {
    json!({"name": "conference_id", "in": "path", "required": true, "schema": {"type": "string"}})
}

/// A control of a running meeting: answers the meeting afterwards, 404 unknown, 409 does
/// not apply now.
fn control(summary: &str, participant: bool) -> Value {
    let mut parameters = vec![conference_param()];
    if participant {
        parameters.push(
            json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}),
        );
    }
    json!({"post": {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {"description": "Done; the meeting as it is now (written to the audit log)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Meeting"}}}},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": {"$ref": "#/components/responses/Error"},
            "409": {"$ref": "#/components/responses/Error"}
        }
    }})
}

fn responses(ok: &str, schema: Value) -> Value {
    json!({
        ok: {"description": "Success", "content": {"application/json": {"schema": schema}}},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "404": {"$ref": "#/components/responses/Error"},
        "400": {"$ref": "#/components/responses/Error"},
        "422": {"$ref": "#/components/responses/Error"}
    })
}

fn with_pin() -> Value {
    json!({
        "type": "object",
        "properties": {
            "organizer": {"$ref": "#/components/schemas/Organizer"},
            "pin": {"type": "string", "description": "The new PIN, shown only in this response."},
            "email": {"$ref": "#/components/schemas/MailOutcome"}
        },
        "required": ["organizer", "email"]
    })
}

fn id_param() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}])
}

fn action(summary: &str, schema: Value) -> Value {
    json!({"post": {"summary": summary, "parameters": id_param(), "responses": responses("200", schema)}})
}

/// The document.
pub fn document() -> Value {
    // Added after: one more entry inside would pass the json! macro's recursion limit.
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dialbridge admin API",
            "version": "1",
            "description": "Organizers, PINs, conference IDs, settings and running meetings of a dialbridge dial-in bridge. Every call except the self-service reset link and this document needs `Authorization: Bearer <token>`, the token being in DATA_DIR/admin-token."
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/organizers": {
                "get": {"summary": "List organizers (PINs masked)", "responses": responses("200", json!({"type": "object", "properties": {"organizers": {"type": "array", "items": {"$ref": "#/components/schemas/Organizer"}}}}))},
                "post": {
                    "summary": "Create an organizer; an enabled one gets a PIN, returned once and e-mailed",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewOrganizer"}}}},
                    "responses": responses("201", with_pin())
                }
            },
            "/api/organizers/{id}": {
                "get": {"summary": "Show an organizer", "parameters": id_param(), "responses": responses("200", json!({"type": "object", "properties": {"organizer": {"$ref": "#/components/schemas/Organizer"}}}))},
                "patch": {
                    "summary": "Change name, e-mail, override address or the start rule",
                    "parameters": id_param(),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrganizerPatch"}}}},
                    "responses": responses("200", json!({"type": "object", "properties": {"organizer": {"$ref": "#/components/schemas/Organizer"}}}))
                },
                "delete": {"summary": "Delete an organizer", "parameters": id_param(), "responses": {"204": {"description": "Deleted"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "404": {"$ref": "#/components/responses/Error"}}}
            },
            "/api/organizers/{id}/enable": action("Enable for audio conferencing: a new PIN, returned once and e-mailed", with_pin()),
            "/api/organizers/{id}/disable": action("Disable: the conference ID and PIN stop working at once", json!({"type": "object"})),
            "/api/organizers/{id}/reset-pin": action("New random PIN of the current policy length, returned once and e-mailed; the old one stops working at once", with_pin()),
            "/api/organizers/{id}/reset-conference-id": action("New random conference ID; the old one stops working; the organizer is e-mailed", with_pin()),
            "/api/organizers/{id}/start": {"post": {"summary": "Start the organizer's meeting as if they had joined with their PIN: the lobby moves in", "parameters": id_param(), "responses": responses("202", json!({"type": "object", "properties": {"started": {"type": "boolean"}, "conference_id": {"type": "string"}}}))}},
            "/api/meetings": {"get": {"summary": "Running meetings and waiting lobbies, ordered by conference ID", "responses": responses("200", json!({"type": "array", "items": {"$ref": "#/components/schemas/Meeting"}}))}},
            "/api/meetings/{conference_id}": {"get": {"summary": "One running meeting or waiting lobby", "parameters": [conference_param()], "responses": responses("200", json!({"$ref": "#/components/schemas/Meeting"}))}},
            "/api/meetings/{conference_id}/lock": control("Lock: newcomers wait in the lobby (as *7)", false),
            "/api/meetings/{conference_id}/unlock": control("Unlock: newcomers go straight in", false),
            "/api/meetings/{conference_id}/admit": control("Let the whole lobby in (as *21); 409 before the meeting started", false),
            "/api/meetings/{conference_id}/end": control("End the meeting: everyone hears \"The meeting has ended\" and is hung up", false),
            "/api/meetings/{conference_id}/participants/{id}/mute": control("Mute a participant (they hear \"You are muted\"); 409 for a caller in the lobby", true),
            "/api/meetings/{conference_id}/participants/{id}/unmute": control("Unmute a participant; 409 for a caller in the lobby", true),
            "/api/meetings/{conference_id}/participants/{id}/kick": control("Remove a caller: they hear \"You have been removed from the meeting\" and get a BYE", true),
            "/api/meetings/{conference_id}/participants/{id}/admit": control("Let one waiting caller in (as *24 then 1); 409 if they are in the meeting already", true),
            "/api/meetings/{conference_id}/participants/{id}/deny": control("Send one waiting caller away (as *24 then 2): they hear why and get a BYE", true),
            "/api/settings": {
                "get": {"summary": "Organization settings", "responses": responses("200", json!({"$ref": "#/components/schemas/Settings"}))},
                "put": {
                    "summary": "Change settings (a bad value changes nothing)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SettingsPatch"}}}},
                    "responses": responses("200", json!({"$ref": "#/components/schemas/Settings"}))
                }
            },
            "/api/audit": {"get": {"summary": "Audit log, newest first (never contains PINs)", "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}], "responses": responses("200", json!({"type": "object"}))}},
            "/api/mail/{ticket}": {"get": {"summary": "Delivery status of an e-mail", "parameters": [{"name": "ticket", "in": "path", "required": true, "schema": {"type": "integer"}}], "responses": responses("200", json!({"type": "object"}))}},
            "/api/self-service/reset-link": {"post": {
                "summary": "Ask for a self-service PIN reset link (same answer whether or not the address exists)",
                "security": [],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"], "additionalProperties": false}}}},
                "responses": {"202": {"description": "Accepted"}}
            }},
            "/api/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI document"}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Unauthorized": {"description": "Missing or wrong admin token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "Error": {"description": "The request was refused; nothing was changed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
                "Organizer": organizer_schema(),
                "Meeting": meeting_schema(),
                "Participant": participant_schema(),
                "NewOrganizer": {"type": "object", "additionalProperties": false, "required": ["name", "email"], "properties": {
                    "name": {"type": "string", "maxLength": 200},
                    "email": {"type": "string"},
                    "email_override": {"type": ["string", "null"]},
                    "enabled": {"type": "boolean", "default": true},
                    "start_without_pin": {"type": "boolean", "default": false}
                }},
                "OrganizerPatch": {"type": "object", "additionalProperties": false, "properties": {
                    "name": {"type": "string", "maxLength": 200},
                    "email": {"type": "string"},
                    "email_override": {"type": ["string", "null"], "description": "null removes it"},
                    "start_without_pin": {"type": "boolean"}
                }},
                "Settings": {"type": "object", "properties": {
                    "pin_length": {"type": "integer", "minimum": 4, "maximum": 12},
                    "auto_email": {"type": "boolean"},
                    "anonymous_start": {"type": "boolean"}
                }},
                "SettingsPatch": {"type": "object", "additionalProperties": false, "properties": {
                    "pin_length": {"type": "integer", "minimum": 4, "maximum": 12},
                    "auto_email": {"type": "boolean"},
                    "anonymous_start": {"type": "boolean"}
                }},
                "MailOutcome": {"type": "object", "properties": {
                    "status": {"type": "string", "enum": ["queued", "auto_email_off", "none"]},
                    "ticket": {"type": "integer"},
                    "to": {"type": "string"}
                }, "required": ["status"]},
                "Error": {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string"}}, "required": ["error"]}
            }
        }
    });
    doc["paths"]["/api/events"] = events_path();
    doc["components"]["schemas"]["Event"] = event_schema();
    doc
}

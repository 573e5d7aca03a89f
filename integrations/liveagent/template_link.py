"""LiveAgent's template variables for `nps-bot template-link liveagent`: the survey links in the e-mail a rule's
"send answer" action (or the resolved-ticket template) sends. The same names as the rule body
(manifests/liveagent/http_request_body.json), so a link and a webhook find the same survey.

[I] Unverified: LiveAgent publishes no list of these names; pick the matching ones from the editor's variable
list (manifests/liveagent/template-link.md). A variable LiveAgent does not know is sent as written, and the
link then answers 400 instead of creating a survey.
"""

PLACEHOLDERS = {"ticket": "{$ticket_id}", "email": "{$contact_email}", "name": "{$contact_name}"}

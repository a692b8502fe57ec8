-- ember.choice: `ember.choice{"cosine", "step", "none"}`, a config default that takes one of the
-- choices (ember.config.decl, where it is made and documented).
return require("ember.config.decl").choice
